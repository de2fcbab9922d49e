"""The campaign report (ROI) equals a plain-Python evaluation of docs/metrics.md over the raw rows — touches, events,
orders, refunds, imported campaign days and hand-entered costs — on randomized histories, for first- and last-touch
attribution."""

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import reports, services
from analytics.models import Buyer
from leads.contracts import EventRefs
from leads.models import Event, Lead, Touch
from leads.services import event_record
from offers.models import Order, Payment
from offers.orders import order_create
from offers.payments import payment_succeeded
from spend.models import AdAccount, CampaignDay, ClickCampaign, OtherCost
from tests.analytics.test_reports_reference import at, in_range, local, money_back, reset
from tests.factories import LeadFactory, ladder_funnel

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
PERIOD = reports.Period(TODAY - dt.timedelta(days=10), TODAY - dt.timedelta(days=1))
# Campaigns as the platforms know them: (platform, id, name).
CAMPAIGNS = [("meta", "120001", "Cold Traffic"), ("meta", "120002", "Retargeting"), ("google", "990001", "Brand")]
# Touches a lead may have: UTM source and campaign (by id, by name, unknown), or a click id alone, or none.
TOUCHES = [
    ("facebook", "120001", ""),
    ("instagram", "120001", ""),
    ("facebook", "retargeting", ""),
    ("google", "990001", ""),
    ("newsletter", "december", ""),
    ("newsletter", "", ""),
    ("", "", "gclid-9"),
    ("", "", "gclid-8"),
    ("partner", "unknown", ""),
    None,
]

lead_plans = st.lists(
    st.fixed_dictionaries(
        {
            "first": st.sampled_from(TOUCHES),
            "last": st.sampled_from(TOUCHES),
            "created": st.integers(0, 12),
            "buy": st.one_of(st.none(), st.integers(0, 12)),
            "again": st.one_of(st.none(), st.integers(0, 12)),
            "refund": st.sampled_from(["", "full", "partial", "lost"]),
        }
    ),
    min_size=1,
    max_size=7,
)
spend_plans = st.lists(
    st.tuples(st.integers(0, len(CAMPAIGNS) - 1), st.integers(0, 12), st.integers(0, 50_000), st.integers(0, 400)),
    max_size=8,
)
# Which click ids Google's click_view resolves, and to which campaign.
click_plans = st.dictionaries(st.sampled_from(["gclid-9", "gclid-8"]), st.sampled_from(["990001", "120001", "777"]))
cost_plans = st.lists(
    st.tuples(st.sampled_from([("newsletter", "december"), ("newsletter", ""), ("podcast", "")]), st.integers(0, 12),
              st.integers(1, 20_000)),
    max_size=3,
)  # fmt: skip


def build(leads, spends, costs, clicks, funnel, steps):
    accounts = {
        platform: AdAccount.objects.create(platform=platform, account_id=f"{platform}-1", currency="USD")
        for platform in ("meta", "google")
    }
    for gclid, campaign in clicks.items():
        ClickCampaign.objects.create(account=accounts["google"], gclid=gclid, campaign_id=campaign, day=TODAY)
    for index, plan in enumerate(leads):
        lead = LeadFactory.create()
        Lead.objects.filter(pk=lead.pk).update(created_at=at(plan["created"], 8))
        for kind in ("first", "last"):
            if plan[kind]:
                source, campaign, gclid = plan[kind]
                Touch.objects.create(
                    lead=lead, kind=kind, occurred_at=at(12), utm_source=source, utm_campaign=campaign, gclid=gclid
                )
        event_record(
            type="optin",
            idempotency_key=f"optin:{index}",
            occurred_at=at(plan["created"], 8),
            lead=lead,
            refs=EventRefs(funnel_id=funnel.pk, step_id=steps["optin"].pk),
        )
        for number, days in enumerate(d for d in (plan["buy"], plan["again"]) if d is not None):
            order = order_create(lead=lead, offers=[steps["order"].offer], funnel_id=funnel.pk)
            payment = Payment.objects.create(
                order=order, amount_minor=order.total_minor, currency="USD", status="pending", created_at=at(days)
            )
            order.lines.update(payment=payment)
            payment_succeeded(payment=payment, intent_id=f"pi_{index}_{number}", amount_minor=order.total_minor,
                              at=at(days, 13))  # fmt: skip
            if number == 0:
                money_back(plan["refund"], payment, index)
    for n, (campaign, days, spend, clicks) in enumerate(spends):
        platform, campaign_id, name = CAMPAIGNS[campaign]
        CampaignDay.objects.update_or_create(
            account=accounts[platform],
            campaign_id=campaign_id,
            day=TODAY - dt.timedelta(days=days),
            defaults={
                "campaign_name": name,
                "currency": "USD",
                "spend_minor": spend,
                "clicks": clicks,
                "impressions": clicks * 40,
                "platform_conversions": Decimal(n % 3),
                "imported_at": timezone.now(),
            },
        )
    for (source, campaign), days, amount in costs:
        OtherCost.objects.create(
            day=TODAY - dt.timedelta(days=days), source=source, campaign=campaign, amount_minor=amount, currency="USD"
        )


# --- the reference ----------------------------------------------------------------------------------------------------


def channel(lead_id, kind):
    touch = Touch.objects.filter(lead_id=lead_id, kind=kind).first()
    if touch is None:
        return "(none)", ""
    if not touch.utm_source and touch.gclid:  # a click id alone: its campaign as click_view tells, if it does
        clicked = ClickCampaign.objects.filter(gclid=touch.gclid).first()
        return "google (click id)", clicked.campaign_id if clicked else ""
    return touch.utm_source or "(direct)", touch.utm_campaign


def per(total, count):
    return round(Fraction(total, count)) if count else None


def reference(kind):
    """docs/metrics.md, "Campaigns: spend and return", over the raw rows."""
    with_events = set(Event.objects.exclude(lead=None).values_list("lead_id", flat=True))

    def blank() -> dict[str, Any]:
        return {"leads": 0, "buyers": set(), "orders": 0, "gross": 0, "net": 0, "new": set(), "value": 0}

    outcomes: dict[tuple[str, str], dict[str, Any]] = defaultdict(blank)
    for lead in Lead.objects.filter(pk__in=with_events):
        if in_range(lead.created_at, PERIOD.since, PERIOD.until):
            outcomes[channel(lead.pk, kind)]["leads"] += 1
    for order in Order.objects.exclude(paid_at=None):
        if in_range(order.paid_at, PERIOD.since, PERIOD.until):
            row = outcomes[channel(order.lead_id, kind)]
            row["buyers"].add(order.lead_id)
            row["orders"] += 1
            row["gross"] += order.total_minor
            row["net"] += order.total_minor - order.refunded_minor - order.chargeback_minor
    for lead_id in with_events:  # buyers acquired: the first order with a positive net falls in the range
        nets = [
            (local(o.paid_at), o.total_minor - o.refunded_minor - o.chargeback_minor)
            for o in Order.objects.filter(lead_id=lead_id, currency="USD").exclude(paid_at=None)
        ]
        positive = [(day, net) for day, net in nets if net > 0]
        if positive and PERIOD.since <= min(day for day, _ in positive) < PERIOD.until:
            row = outcomes[channel(lead_id, kind)]
            row["new"].add(lead_id)
            row["value"] += sum(net for _, net in positive)
    claimed = set()
    rows: dict[tuple[str, Any], tuple[int, int, str, list[tuple[str, str]]]] = {}
    spend: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    names = {}
    for day in CampaignDay.objects.select_related("account").order_by("day"):
        if PERIOD.since <= day.day < PERIOD.until:
            key = (day.account.platform, day.campaign_id)
            spend[key][0] += day.spend_minor
            spend[key][1] += day.clicks
            names[key] = day.campaign_name
    pending = []
    for key in sorted(spend):
        matched = [k for k in outcomes if k[1] == key[1] and k not in claimed]
        claimed.update(matched)
        pending.append((key, matched))
    for key, matched in pending:
        by_click = [k for k in matched if k[0] == "google (click id)"]
        method = "campaign id"
        if by_click:
            method = "click id" if len(by_click) == len(matched) else "campaign id and click id"
        if not matched:
            matched = [k for k in outcomes if k[1] == names[key].lower() and k not in claimed]
            claimed.update(matched)
            method = "campaign name"
        rows[key] = (spend[key][0], spend[key][1], method if matched else "no outcome", matched)
    costs: dict[tuple[str, str], int] = defaultdict(int)
    for cost in OtherCost.objects.all():
        if PERIOD.since <= cost.day < PERIOD.until:
            costs[(cost.source, cost.campaign)] += cost.amount_minor
    for source, campaign in sorted(costs, key=lambda k: (k[1] == "", k)):
        if campaign:
            matched = (
                [(source, campaign)] if (source, campaign) in outcomes and (source, campaign) not in claimed else []
            )
            method = "source and campaign"
        else:
            matched = [k for k in outcomes if k[0] == source and k not in claimed]
            method = "source"
        claimed.update(matched)
        rows[("other", f"{source} {campaign}".strip())] = (costs[(source, campaign)], 0,
                                                          method if matched else "no outcome", matched)  # fmt: skip
    for key in set(outcomes) - claimed:
        rows[("", key)] = (0, 0, "no spend recorded", [key])
    expected = {}
    for key, (spent, clicks, method, matched) in rows.items():
        got = [outcomes[k] for k in matched]
        leads = sum(o["leads"] for o in got)
        new = sum(len(o["new"]) for o in got)
        net = sum(o["net"] for o in got)
        value = sum(o["value"] for o in got)
        expected[key] = {
            "match": method,
            "spend": spent,
            "leads": leads,
            "buyers": sum(len(o["buyers"]) for o in got),
            "new_buyers": new,
            "orders": sum(o["orders"] for o in got),
            "gross": sum(o["gross"] for o in got),
            "net": net,
            "value": value,
            "cpc": per(spent, clicks),
            "cpl": per(spent, leads),
            "cac": per(spent, new),
            "roas": round(net / spent, 4) if spent else None,
            "roi": round((net - spent) / spent, 4) if spent else None,
            "ltv_cac": round(value / spent, 4) if spent and new else None,
        }
    return expected


def observed(kind):
    report = reports.roi_report(period=PERIOD, currency="USD", touch=kind)
    found: dict[tuple[str, Any], dict[str, Any]] = {}
    for r in report.rows:
        key: tuple[str, Any]
        if r.platform in ("meta", "google"):
            key = (r.platform, r.campaign_id)
        elif r.platform == "other":
            key = ("other", r.campaign)
        else:
            (touch,) = r.touches
            source, _, campaign = touch.partition(" / ")
            key = ("", (source, "" if campaign == "(no campaign)" else campaign))
        found[key] = {
            "match": r.match, "spend": r.spend_minor, "leads": r.leads, "buyers": r.buyers, "new_buyers": r.new_buyers,
            "orders": r.orders, "gross": r.gross_minor, "net": r.net_minor, "value": r.value_minor,
            "cpc": r.cpc_minor, "cpl": r.cpl_minor, "cac": r.cac_minor, "roas": r.roas, "roi": r.roi,
            "ltv_cac": r.ltv_cac,
        }  # fmt: skip
    return found


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(leads=lead_plans, spends=spend_plans, costs=cost_plans, clicks=click_plans)
def test_the_campaign_report_equals_the_reference_for_both_attribution_models(leads, spends, costs, clicks):
    reset()
    CampaignDay.objects.all().delete()
    ClickCampaign.objects.all().delete()
    OtherCost.objects.all().delete()
    AdAccount.objects.all().delete()
    Buyer.objects.all().delete()
    funnel, steps = ladder_funnel()
    build(leads, spends, costs, clicks, funnel, steps)
    services.rollups_catch_up()
    for kind in ("first", "last"):
        assert observed(kind) == reference(kind), kind
