"""Lifetime value where people look at it: the report by cohort, channel, campaign and first offer (checked against
the raw orders), its API and page, the lead list's value columns, and totals across currencies."""

import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django.utils import timezone

from analytics import reports, services, value
from analytics.exchange import total_in_reporting_currency
from analytics.models import CustomerValue, ExchangeRate
from leads.models import Lead, Touch
from offers.models import Order
from tests.analytics.conftest import staff_client
from tests.clv_history import buy
from tests.factories import OfferFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(history):
    leads, offer = history
    # A first touch for a third of the buyers, so the channel groups differ.
    for index, lead in enumerate(leads[:200]):
        Touch.objects.create(
            lead=lead,
            kind="first",
            occurred_at=lead.created_at,
            utm_source=("meta", "google")[index % 2],
            utm_campaign=f"c{index % 3}",
        )
    services.rollups_rebuild()
    (fit,) = value.clv_refresh()
    assert fit.usable, fit.reason
    return leads, offer


def _raw_buyers():
    """From the orders themselves: per lead, the local days of paid orders that kept money, net, first offer."""
    purchases = defaultdict(list)
    for order in Order.objects.exclude(paid_at=None).filter(currency="USD").prefetch_related("lines"):
        if order.net_minor > 0:
            purchases[order.lead_id].append((timezone.localtime(order.paid_at), order))
    out = {}
    for lead_id, rows in purchases.items():
        rows.sort(key=lambda r: (r[0], r[1].pk))
        first_line = min(
            (line for _, o in rows for line in o.lines.all() if line.role != "order_bump"),
            key=lambda line: (timezone.localtime(line.order.paid_at).date(), line.pk),
        )
        out[lead_id] = {
            "first_month": f"{rows[0][0]:%Y-%m}",
            "net": sum(o.net_minor for _, o in rows),
            "first_offer": first_line.offer.name,
        }
    return out


def test_the_report_adds_net_so_far_and_predicted_value_per_group_as_the_raw_rows_do(scored):
    raw = _raw_buyers()
    predicted = dict(CustomerValue.objects.filter(currency="USD").values_list("lead_id", "predicted_value_minor"))
    for by, key in (("cohort", "first_month"), ("first_offer", "first_offer")):
        expected: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for lead_id, buyer in raw.items():
            sums = expected[buyer[key]]
            sums[0] += 1
            sums[1] += buyer["net"]
            sums[2] += predicted.get(lead_id, 0)
        report = reports.lifetime_value_report(currency="USD", by=by)
        got = {row.group: row for row in report.rows}
        assert set(got) == set(expected), by
        for group, (buyers, net, future) in expected.items():
            row = got[group]
            assert (row.buyers, row.net_minor, row.predicted_minor) == (buyers, net, future), (by, group)
            assert row.clv_per_buyer_minor == round(Fraction(net + future, buyers))
    channels = {row.group: row.buyers for row in reports.lifetime_value_report(currency="USD", by="channel").rows}
    assert channels == {"meta": 100, "google": 100, "(none)": len(raw) - 200}
    campaigns = reports.lifetime_value_report(currency="USD", by="campaign").rows
    assert sum(row.buyers for row in campaigns) == len(raw)
    assert {row.group for row in campaigns} >= {"meta / c0", "google / c1", "(none) / (no campaign)"}
    assert report.fit is not None
    assert report.fit.usable


def test_buyers_by_value_are_ordered_and_one_lead_can_be_asked_for(scored):
    total, rows = reports.buyers_by_value(currency="USD", limit=50)
    assert total == CustomerValue.objects.filter(currency="USD").count()
    values = [row.predicted_minor or 0 for row in rows]
    assert values == sorted(values, reverse=True)
    top = rows[0]
    assert top.predicted_minor is not None
    assert top.clv_minor == top.net_minor + top.predicted_minor
    assert top.activity in ("likely active", "at risk", "lapsed")
    count, (only,) = reports.buyers_by_value(currency="USD", lead=top.lead)
    assert (count, only) == (1, top)
    with pytest.raises(reports.lifetime.ApplicationError, match="No lead with the public id"):
        reports.buyers_by_value(currency="USD", lead=str(uuid.uuid4()))


def test_the_api_answers_json_csv_and_field_errors_and_only_to_marketers(scored):
    client = staff_client("marketer")
    body = client.get("/api/v1/reports/lifetime-value?by=first_offer").json()
    assert body["by"] == "first_offer"
    assert body["fit"]["usable"] is True
    assert sum(row["buyers"] for row in body["rows"]) == len(_raw_buyers())
    csv = client.get("/api/v1/reports/lifetime-value?by=cohort&format=csv")
    assert csv["Content-Type"].startswith("text/csv")
    assert csv.content.decode().splitlines()[0].startswith("group,buyers,net_minor,predicted_minor")
    bad = client.get("/api/v1/reports/lifetime-value?by=planet")
    assert bad.status_code == 400
    assert "by must be one of" in bad.json()["by"][0]
    assert client.get("/api/v1/reports/lifetime-value/buyers?order=height").status_code == 400
    assert client.get("/api/v1/reports/lifetime-value/buyers?lead=not-a-uuid").status_code == 400
    page = client.get("/api/v1/reports/lifetime-value/buyers?order=net&limit=5").json()
    nets = [b["net_minor"] for b in page["buyers"]]
    assert nets == sorted(nets, reverse=True)
    assert staff_client("sales").get("/api/v1/reports/lifetime-value").status_code == 403


def test_the_page_shows_the_fit_the_tables_and_the_most_valuable_buyers(scored):
    page = staff_client("marketer").get("/admin/reports/lifetime-value/").content.decode()
    for text in ("Lifetime value per buyer", "By first-purchase month", "By first offer bought", "Holdout check"):
        assert text in page, text
    assert "/api/v1/reports/lifetime-value?currency=USD&by=channel&format=csv" in page
    _, (top, *_) = reports.buyers_by_value(currency="USD", limit=1)
    lead = Lead.objects.get(public_id=top.lead)
    assert f"/admin/leads/lead/{lead.pk}/change/" in page
    assert staff_client("sales").get("/admin/reports/lifetime-value/").status_code == 403


def test_the_page_says_why_there_is_no_prediction(db):
    page = staff_client("marketer").get("/admin/reports/lifetime-value/").content.decode()
    assert "No fit yet for USD" in page
    assert "No buyers in USD yet." in page


def test_the_lead_list_sorts_and_filters_by_predicted_value(scored):
    client = staff_client("sales")
    request = RequestFactory().get("/admin/leads/lead/")
    request.user = UserFactory.create(role="sales")
    columns = admin.site._registry[Lead].get_list_display(request)  # the sales role's columns
    order = list(columns).index("predicted_value") + 1  # the list's first column is the action checkbox
    page = client.get(f"/admin/leads/lead/?o={order}").content.decode()  # the predicted-value column: most first
    assert "Predicted (USD)" in page
    best = CustomerValue.objects.filter(currency="USD").order_by("-predicted_value_minor")[0]
    first_row = page.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert Lead.objects.get(pk=best.lead_id).email in first_row
    top10 = client.get(f"/admin/leads/lead/?predicted=top10&o={order}").content.decode()
    scored_count = CustomerValue.objects.filter(currency="USD").count()
    threshold = (
        CustomerValue.objects.filter(currency="USD")
        .order_by("-predicted_value_minor")
        .values_list("predicted_value_minor", flat=True)[scored_count // 10 - 1]
    )
    expected = CustomerValue.objects.filter(currency="USD", predicted_value_minor__gte=threshold).count()
    assert f"{expected} lead" in top10
    lapsed = CustomerValue.objects.filter(currency="USD", p_alive__lt=0.3).count()
    assert f"{lapsed} lead" in client.get("/admin/leads/lead/?activity=lapsed").content.decode()


def test_totals_across_currencies_need_a_rate_for_every_currency(history, settings):
    leads, _ = history
    lead = leads[1]
    euro = OfferFactory.create(currency="EUR", amount_minor=4000)
    yen = OfferFactory.create(currency="JPY", amount_minor=5000)
    buy(lead, euro, timezone.now() - dt.timedelta(days=2), "eur")
    services.rollups_catch_up()
    client = staff_client("marketer")
    page = client.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()
    assert "No total in USD: add a rate for EUR" in page
    ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.10"), valid_from=timezone.localdate())
    usd = sum(o.net_minor for o in lead.orders.filter(currency="USD").exclude(paid_at=None))
    page = client.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()
    assert f"net ${(usd + 4400) / 100:,.2f}" in page
    # Exponents differ: 5000 JPY at 0.0067 is 33.50 USD; 1 EUR cent at 1.005 rounds half to even.
    ExchangeRate.objects.create(currency="JPY", rate=Decimal("0.0067"), valid_from=dt.date(2020, 1, 1))
    assert total_in_reporting_currency({"JPY": yen.amount_minor}).amount_minor == 3350
    ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.005"), valid_from=dt.date(2020, 1, 1))
    assert total_in_reporting_currency({"EUR": 50}, day=dt.date(2021, 1, 1)).amount_minor == 50  # 50.25 → 50
    assert total_in_reporting_currency({"EUR": 1, "GBP": 1}).missing == ("GBP",)
    with pytest.raises(ValidationError, match="reporting currency itself"):
        ExchangeRate(currency="usd", rate=Decimal(1), valid_from=dt.date(2020, 1, 1)).clean()
