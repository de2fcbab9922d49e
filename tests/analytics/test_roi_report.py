"""The campaign report on a worked example: which outcomes each spend claims and how, the figures docs/metrics.md
defines, the page and the API (CSV included), and who may see them."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from analytics import reports, services
from analytics.models import ExchangeRate
from leads.contracts import EventRefs
from leads.models import Touch
from leads.services import event_record
from offers.models import Payment
from offers.orders import order_create
from offers.payments import payment_succeeded
from spend.models import AdAccount, CampaignDay, OtherCost
from tests.analytics.test_reports_reference import at
from tests.factories import LeadFactory, UserFactory, ladder_funnel

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
PERIOD = reports.Period(TODAY - dt.timedelta(days=7), TODAY + dt.timedelta(days=1))


def lead_with(first, last, *, buys=0, funnel, steps, n=[0]):  # noqa: B006 (a counter for unique keys)
    n[0] += 1
    lead = LeadFactory.create()
    for kind, (source, campaign) in (("first", first), ("last", last)):
        Touch.objects.create(lead=lead, kind=kind, occurred_at=at(3), utm_source=source, utm_campaign=campaign)
    event_record(
        type="optin", idempotency_key=f"roi-optin:{n[0]}", occurred_at=at(2), lead=lead,
        refs=EventRefs(funnel_id=funnel.pk, step_id=steps["optin"].pk),
    )  # fmt: skip
    for number in range(buys):
        order = order_create(lead=lead, offers=[steps["order"].offer], funnel_id=funnel.pk)
        payment = Payment.objects.create(
            order=order, amount_minor=order.total_minor, currency="USD", status="pending", created_at=at(2)
        )
        order.lines.update(payment=payment)
        payment_succeeded(payment=payment, intent_id=f"pi_roi_{n[0]}_{number}", amount_minor=order.total_minor,
                          at=at(2, 13))  # fmt: skip
    return lead


@pytest.fixture
def example():
    build_example()


def build_example():
    """Four campaigns on two platforms (one in EUR), a newsletter cost, and five leads with their touches and
    orders, folded into the rollups."""
    funnel, steps = ladder_funnel()  # the tripwire costs $7.00
    meta = AdAccount.objects.create(platform="meta", account_id="act_1", currency="USD")
    google = AdAccount.objects.create(platform="google", account_id="1234567890", currency="EUR")
    for day in (1, 2):
        CampaignDay.objects.create(
            account=meta, campaign_id="120001", campaign_name="Cold Traffic", day=TODAY - dt.timedelta(days=day),
            currency="USD", spend_minor=1000, impressions=4000, clicks=40, platform_conversions=Decimal(3),
            platform_conversion_value_minor=2100, imported_at=timezone.now(),
        )  # fmt: skip
    CampaignDay.objects.create(
        account=meta, campaign_id="120002", campaign_name="Retargeting", day=TODAY - dt.timedelta(days=1),
        currency="USD", spend_minor=500, clicks=5, imported_at=timezone.now(),
    )  # fmt: skip
    CampaignDay.objects.create(
        account=google, campaign_id="990001", campaign_name="Brand", day=TODAY - dt.timedelta(days=1),
        currency="EUR", spend_minor=1000, clicks=10, imported_at=timezone.now(),
    )  # fmt: skip
    OtherCost.objects.create(day=TODAY - dt.timedelta(days=1), source="Newsletter", amount_minor=300, currency="USD")
    kw = {"funnel": funnel, "steps": steps}
    lead_with(("facebook", "120001"), ("facebook", "retargeting"), buys=1, **kw)
    lead_with(("instagram", "120001"), ("instagram", "120001"), buys=2, **kw)
    lead_with(("facebook", "120001"), ("facebook", "120001"), **kw)
    lead_with(("newsletter", "december"), ("google", "990001"), buys=1, **kw)
    lead_with(("partner", "x"), ("partner", "x"), buys=1, **kw)
    services.rollups_catch_up()


def rows(touch):
    report = reports.roi_report(period=PERIOD, currency="USD", touch=touch)
    keyed = {(r.platform, r.touches[0] if not r.platform else r.campaign_id or r.campaign): r for r in report.rows}
    return report, keyed


def test_first_touch_claims_by_campaign_id_then_name_then_source(example):
    report, found = rows("first")
    cold = found[("meta", "120001")]
    assert (cold.match, sorted(cold.touches)) == ("campaign id", ["facebook / 120001", "instagram / 120001"])
    assert (cold.spend_minor, cold.clicks, cold.leads, cold.new_buyers, cold.orders, cold.net_minor) == (
        2000, 80, 3, 2, 3, 2100,
    )  # fmt: skip
    assert (cold.cpc_minor, cold.cpl_minor, cold.cac_minor) == (25, 667, 1000)  # 2000/80, 2000/3 (half-even), 2000/2
    assert (cold.roas, cold.roi, cold.ltv_cac) == (1.05, 0.05, 1.05)
    assert (cold.platform_conversions, cold.platform_conversion_value_minor) == ("6.00", 4200)  # Meta claims 6
    assert found[("meta", "120002")].match == "no outcome"  # nobody's first touch was retargeting
    newsletter = found[("other", "Newsletter")]
    assert (newsletter.match, newsletter.touches, newsletter.net_minor) == ("source", ["newsletter / december"], 700)
    brand = found[("google", "990001")]
    assert (brand.match, brand.spend_currency, brand.roas) == ("no outcome", "EUR", None)
    assert "add an exchange rate to USD" in brand.note
    assert found[("", "partner / x")].match == "no spend recorded"
    assert report.totals["unconverted_spend"] == ["EUR"]
    assert report.totals["spend_minor"] == 2000 + 500 + 300


def test_last_touch_moves_the_credit_and_a_name_match_is_shown(example):
    _, found = rows("last")
    retargeting = found[("meta", "120002")]
    assert (retargeting.match, retargeting.touches, retargeting.net_minor) == (
        "campaign name", ["facebook / retargeting"], 700,
    )  # fmt: skip
    assert found[("google", "990001")].match == "campaign id"
    assert found[("other", "Newsletter")].match == "no outcome"


def test_spend_in_another_currency_converts_with_a_rate_into_the_reporting_currency(example, settings):
    settings.REPORTS_CURRENCY = "USD"
    ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.10"), valid_from=TODAY - dt.timedelta(days=30))
    _, found = rows("last")
    brand = found[("google", "990001")]
    assert (brand.spend_minor, brand.spend_converted_minor, brand.note) == (1000, 1100, "")
    assert brand.roas == round(700 / 1100, 4)


def test_the_page_and_the_api_for_marketers_only(example):
    marketer = Client()
    marketer.force_login(UserFactory.create(role="marketer"))
    page = marketer.get("/admin/reports/roi/?touch=last")
    assert page.status_code == 200
    text = page.content.decode()
    for shown in ("Cold Traffic", "campaign name", "partner / x"):
        assert shown in text
    csv = marketer.get("/api/v1/reports/roi", {"touch": "first", "format": "csv"})
    assert csv.status_code == 200
    assert csv.content.decode().splitlines()[0].startswith("platform,account,campaign_id,campaign,match")
    assert marketer.get("/api/v1/reports/roi", {"touch": "middle"}).json() == {
        "touch": ["touch must be first or last, not 'middle'."]
    }
    sales = Client()
    sales.force_login(UserFactory.create(role="sales"))
    assert sales.get("/admin/reports/roi/").status_code == 403
    assert sales.get("/api/v1/reports/roi").status_code == 403


def test_an_empty_period_says_how_to_connect_an_account(db):
    marketer = Client()
    marketer.force_login(UserFactory.create(role="marketer"))
    text = marketer.get("/admin/reports/roi/").content.decode()
    assert "No spend in this period" in text
    assert "{{campaign.id}}" in text
    assert "{campaignid}" in text


def test_payback_counts_the_months_until_the_acquired_buyers_return_the_months_spend(db):
    funnel, steps = ladder_funnel()  # $7.00 orders
    meta = AdAccount.objects.create(platform="meta", account_id="act_9", currency="USD")
    this_month = TODAY.replace(day=1)
    acquired = (this_month - dt.timedelta(days=1)).replace(day=1) - dt.timedelta(days=1)
    acquired = acquired.replace(day=1)  # the first day of the month before last
    following = (acquired + dt.timedelta(days=32)).replace(day=1)
    CampaignDay.objects.create(
        account=meta, campaign_id="120001", campaign_name="Cold", day=acquired + dt.timedelta(days=1),
        currency="USD", spend_minor=1000, imported_at=timezone.now(),
    )  # fmt: skip
    lead = LeadFactory.create()
    Touch.objects.create(lead=lead, kind="first", occurred_at=timezone.now(), utm_source="facebook",
                         utm_campaign="120001")  # fmt: skip
    moment = timezone.make_aware(dt.datetime.combine(acquired + dt.timedelta(days=2), dt.time(12)))
    event_record(type="optin", idempotency_key="payback-optin", occurred_at=moment, lead=lead,
                 refs=EventRefs(funnel_id=funnel.pk, step_id=steps["optin"].pk))  # fmt: skip
    for number, day in enumerate((acquired + dt.timedelta(days=3), following + dt.timedelta(days=3))):
        order = order_create(lead=lead, offers=[steps["order"].offer], funnel_id=funnel.pk)  # type: ignore[list-item]
        paid_at = timezone.make_aware(dt.datetime.combine(day, dt.time(12)))
        payment = Payment.objects.create(order=order, amount_minor=700, currency="USD", status="pending",
                                         created_at=paid_at)  # fmt: skip
        order.lines.update(payment=payment)
        payment_succeeded(payment=payment, intent_id=f"pi_payback_{number}", amount_minor=700, at=paid_at)
    services.rollups_catch_up()

    period = reports.Period(TODAY - dt.timedelta(days=365), TODAY + dt.timedelta(days=1))
    (row,) = reports.payback_report(period=period, currency="USD")
    offsets = (TODAY.year - acquired.year) * 12 + TODAY.month - acquired.month
    assert (row.platform, row.month, row.spend_minor, row.new_buyers) == ("meta", f"{acquired:%Y-%m}", 1000, 1)
    assert row.cumulative_net_minor == [700] + [1400] * offsets  # month 0, then the following months
    assert row.payback_months == 1
    marketer = Client()
    marketer.force_login(UserFactory.create(role="marketer"))
    range_ = {"since": period.since.isoformat(), "until": period.until.isoformat()}
    cohorts = marketer.get("/api/v1/reports/payback", range_).json()
    assert cohorts["cohorts"][0]["payback_months"] == 1
    assert "after 1 month" in marketer.get("/admin/reports/roi/").content.decode()


def test_choosing_a_period_keeps_the_attribution_and_currency(db):
    marketer = Client()
    marketer.force_login(UserFactory.create(role="marketer"))
    page = marketer.get("/admin/reports/roi/?touch=last&currency=USD").content.decode()
    assert 'href="?period=last_7_days&amp;touch=last&amp;currency=USD"' in page
    assert '<input type="hidden" name="touch" value="last">' in page
