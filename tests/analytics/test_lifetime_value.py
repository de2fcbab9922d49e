"""The nightly lifetime-value refresh over the rollups' orders, and what a lead's page shows."""

import datetime as dt

import numpy as np
import pytest
from django.utils import timezone

from analytics import services, value
from analytics.clv import BgNbd, ConstantSpend, GammaGamma, fit_spend
from analytics.models import ClvFit, CustomerValue
from offers.models import Payment
from offers.payments import payment_succeeded, refund_event_record
from offers.services import order_create, refund_record
from tests.analytics.conftest import staff_client
from tests.analytics.test_clv import simulate
from tests.factories import LeadFactory, OfferFactory

pytestmark = pytest.mark.django_db


def buy(lead, offer, when, key):
    order = order_create(lead=lead, offers=[offer], created_at=when)
    payment = Payment.objects.create(
        order=order, amount_minor=order.total_minor, currency=order.currency, status="pending", created_at=when
    )
    order.lines.update(payment=payment)
    return payment_succeeded(payment=payment, intent_id=f"pi_{key}", amount_minor=order.total_minor, at=when)


@pytest.fixture
def history(settings):
    """600 simulated buyers' purchase days over the last year, paid through the services (one order a day)."""
    settings.CLV_MIN_REPEAT_BUYERS = 50
    rng = np.random.default_rng(7)
    x, t_x, T, _, _ = simulate(
        rng, BgNbd(r=0.6, alpha=40.0, a=0.8, b=2.5, loglik=0), GammaGamma(p=6, q=4, gamma=15, loglik=0), 600, 365, 0
    )
    offers = [OfferFactory.create(amount_minor=amount) for amount in (1700, 4700, 9700)]
    today = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    leads = []
    for i in range(600):
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


def test_the_refresh_fits_each_currency_and_scores_every_buyer(history):
    leads, _ = history
    (fit,) = value.clv_refresh()
    assert fit.usable, fit.reason
    assert fit.customers == 600
    assert fit.repeat_customers >= 50
    assert all(getattr(fit, name) > 0 for name in ("r", "alpha", "a", "b", "p", "q", "gamma"))
    assert fit.holdout["days"] == 90
    assert CustomerValue.objects.filter(currency="USD").count() == 600
    scores = {v.lead_id: v for v in CustomerValue.objects.all()}
    assert all(0 <= v.p_alive <= 1 and v.predicted_value_minor >= 0 for v in scores.values())
    # Running it again replaces the scores rather than adding to them.
    value.clv_refresh()
    assert CustomerValue.objects.count() == 600
    assert ClvFit.objects.count() == 2


def test_a_single_price_point_values_purchases_at_it():
    spend = fit_spend(np.array([1.0, 2.0, 0.0]), np.array([4700.0, 4700.0, 0.0]))
    assert spend == ConstantSpend(amount=4700.0)


def test_too_few_repeat_buyers_means_history_only_with_the_reason(history, settings):
    settings.CLV_MIN_REPEAT_BUYERS = 10_000
    leads, _ = history
    (fit,) = value.clv_refresh()
    assert not fit.usable
    assert "at least 10000 are needed" in fit.reason
    assert not CustomerValue.objects.exists()
    (shown,) = value.lead_value(lead_id=leads[0].pk)
    assert shown.predicted_value_minor is None
    assert "at least 10000 are needed" in shown.not_predicted_because


def test_the_lead_page_shows_history_net_of_refunds_and_the_prediction(history):
    leads, offer = history
    lead = leads[0]
    extra = buy(lead, offer, timezone.now() - dt.timedelta(days=1), "extra")
    refund = refund_record(payment=extra, stripe_refund_id="re_extra", amount_minor=2000)
    refund_event_record(refund=refund)
    services.rollups_catch_up()
    value.clv_refresh()
    (shown,) = value.lead_value(lead_id=lead.pk)
    orders = lead.orders.exclude(paid_at=None)
    assert shown.orders == orders.count()
    assert (shown.gross_minor, shown.refunds_minor) == (sum(o.total_minor for o in orders), 2000)
    assert shown.net_minor == sum(o.net_minor for o in orders)
    assert shown.status in ("likely active", "at risk", "lapsed")
    page = staff_client("marketer").get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()
    assert "Lifetime value" in page
    assert f"net ${shown.net_minor / 100:,.2f}" in page
    assert shown.status in page
