"""Buyers with a year of purchase history made through the real order and payment services, for the lifetime-value
fit: the ``history`` fixture (300 buyers, about a third of them repeat buyers) and ``buy``."""

import datetime as dt

import numpy as np
import pytest
from django.utils import timezone

from analytics import services
from analytics.clv import BgNbd, GammaGamma
from offers.models import Payment
from offers.orders import order_create
from offers.payments import payment_succeeded
from tests.analytics.test_clv import simulate
from tests.factories import LeadFactory, OfferFactory

BUYERS = 300  # about a third repeat: well above the 50 repeat buyers a fit needs


def buy(lead, offer, when, key):
    order = order_create(lead=lead, offers=[offer], created_at=when)
    payment = Payment.objects.create(
        order=order, amount_minor=order.total_minor, currency=order.currency, status="pending", created_at=when
    )
    order.lines.update(payment=payment)
    return payment_succeeded(payment=payment, intent_id=f"pi_{key}", amount_minor=order.total_minor, at=when)


@pytest.fixture
def history(settings):
    """BUYERS simulated buyers' purchase days over the last year, paid through the services (one order a day)."""
    settings.CLV_MIN_REPEAT_BUYERS = 50
    rng = np.random.default_rng(7)
    x, t_x, T, _, _ = simulate(
        rng, BgNbd(r=0.6, alpha=40.0, a=0.8, b=2.5, loglik=0), GammaGamma(p=6, q=4, gamma=15, loglik=0), BUYERS, 365, 0
    )
    offers = [OfferFactory.create(amount_minor=amount) for amount in (1700, 4700, 9700)]
    today = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    leads = []
    for i in range(BUYERS):
        lead = LeadFactory.create()
        leads.append(lead)
        first = today - dt.timedelta(days=int(T[i]))
        spread = list(rng.integers(1, int(t_x[i]) + 1, int(x[i]) - 1)) if x[i] > 1 else []
        days = {0, int(t_x[i]), *(int(day) for day in spread)}
        for n, offset in enumerate(sorted(days)):
            # Buyers differ in what they spend: each mostly buys their own favourite.
            chosen = offers[i % 3] if rng.random() < 0.8 else offers[int(rng.integers(0, 3))]
            buy(lead, chosen, first + dt.timedelta(days=int(offset)), f"{i}-{n}")
    services.rollups_catch_up()
    return leads, offers[1]
