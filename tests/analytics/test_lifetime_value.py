"""The nightly lifetime-value refresh over the rollups' orders, and what a lead's page shows."""

import datetime as dt

import numpy as np
import pytest
from django.utils import timezone

from analytics import services, value
from analytics.clv import ConstantSpend, fit_spend
from analytics.models import ClvFit, CustomerValue
from offers.books import refund_record
from offers.payments import refund_event_record
from tests.analytics.conftest import staff_client
from tests.clv_history import BUYERS, buy

pytestmark = pytest.mark.django_db


def test_the_refresh_fits_each_currency_and_scores_every_buyer(history):
    leads, _ = history
    (fit,) = value.clv_refresh()
    assert fit.usable, fit.reason
    assert fit.customers == BUYERS
    assert fit.repeat_customers >= 50
    assert all(getattr(fit, name) > 0 for name in ("r", "alpha", "a", "b", "p", "q", "gamma"))
    assert fit.holdout["days"] == 90
    assert CustomerValue.objects.filter(currency="USD").count() == BUYERS
    scores = {v.lead_id: v for v in CustomerValue.objects.all()}
    assert all(0 <= v.p_alive <= 1 and v.predicted_value_minor >= 0 for v in scores.values())
    # Running it again replaces the scores rather than adding to them.
    value.clv_refresh()
    assert CustomerValue.objects.count() == BUYERS
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
