"""What each campaign cost and what it returned: ad spend joined to the leads, buyers and net revenue of its touches.

Outcomes are the channel rollups (``ChannelDay``: leads created and orders paid in the range by the touch's UTM
source and campaign, first or last touch) and, for buyers acquired, ``Buyer`` with the lifetime-value predictions.
Spend is the imported ``spend.CampaignDay`` rows of the range's days and the costs entered by hand. How they meet:

1. a platform campaign claims the outcomes whose UTM campaign is its **campaign id** (``{{campaign.id}}`` in Meta's
   URL parameters, ``{campaignid}`` in Google's tracking template);
2. then, for a campaign none matched by id, those whose UTM campaign is its **campaign name** (as stored: normalized);
3. a hand-entered cost claims the outcomes of its **source and campaign**, or, without a campaign, every outcome of
   its **source** still unclaimed;
4. outcomes nobody claimed are shown as revenue with **no spend recorded**; spend that claimed nothing as spend with
   **no outcome**. Nothing is dropped.

All money is in the report's currency. Spend in another currency is converted only into the reporting currency,
with the exchange rate of the range's last day; without a rate the row keeps its own currency and no ratio is given.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from analytics.exchange import total_in_reporting_currency
from analytics.models import Buyer, ChannelDay, CustomerValue, LeadFact, OrderFact
from analytics.reports.ranges import Period
from analytics.reports.sales import distinct_leads
from common.errors import ApplicationError
from leads.contracts import normalize_utm
from leads.models import Touch
from spend.models import CampaignDay, ClickCampaign, OtherCost

CLICK = "google (click id)"  # the source of a touch that carried only a Google click id
TOUCHES = {"first": "the lead's first touch", "last": "the lead's last touch before converting"}
Key = tuple[str, str]  # (source, campaign) as the rollups hold them


@dataclass(kw_only=True, slots=True)
class Outcome:
    leads: int = 0
    orders: int = 0
    gross_minor: int = 0
    net_minor: int = 0
    buyers: int = 0
    new_buyers: int = 0
    value_minor: int = 0  # net so far plus predicted, of the new buyers


@dataclass(kw_only=True, slots=True)
class RoiRow:
    platform: str  # meta, google, other (hand-entered costs), or "" for revenue with no spend recorded
    account: str
    campaign_id: str
    campaign: str
    match: str
    touches: list[str]  # "source / campaign" of the outcomes it claimed
    spend_currency: str
    spend_minor: int  # in spend_currency
    impressions: int
    clicks: int
    platform_conversions: str
    platform_conversion_value_minor: int  # in spend_currency
    leads: int
    buyers: int
    new_buyers: int
    orders: int
    gross_minor: int
    net_minor: int
    value_minor: int
    spend_converted_minor: int | None = None  # the spend in the report's currency (None: no rate)
    cpc_minor: int | None = None
    cpl_minor: int | None = None
    cac_minor: int | None = None
    roas: float | None = None
    roi: float | None = None
    ltv_cac: float | None = None
    note: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class RoiReport:
    since: dt.date
    until: dt.date
    currency: str
    touch: str
    rows: list[RoiRow]
    totals: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def roi_report(*, period: Period, currency: str, touch: str = "first") -> RoiReport:
    if touch not in TOUCHES:
        raise ApplicationError(f"touch must be first or last, not {touch[:20]!r}.", field="touch")
    outcomes = _outcomes(period, currency, touch)
    claimed: set[Key] = set()
    rows = _platform_rows(period, currency, outcomes, claimed)
    rows += _other_cost_rows(period, currency, outcomes, claimed)
    for key in sorted(set(outcomes) - claimed):
        rows.append(_row("", "", "", "", "no spend recorded", [key], currency, {}, outcomes))
    for row in rows:
        _ratios(row, currency, period)
    rows.sort(key=lambda r: (r.platform == "", -r.spend_minor, -r.net_minor, r.platform, r.campaign, r.campaign_id))
    return RoiReport(
        since=period.since,
        until=period.until,
        currency=currency,
        touch=touch,
        rows=rows,
        totals=_totals(rows),
    )


def _outcomes(period: Period, currency: str, touch: str) -> dict[Key, Outcome]:
    found: dict[Key, Outcome] = defaultdict(Outcome)
    days = ChannelDay.objects.filter(
        touch=touch, day__gte=period.since, day__lt=period.until, currency__in=["", currency]
    )
    for row in days.values("source", "campaign", "currency").annotate(
        leads=Sum("leads"), orders=Sum("orders"), gross=Sum("gross_minor"), net=Sum("net_minor")
    ):
        outcome = found[(row["source"], row["campaign"])]
        if row["currency"]:
            outcome.orders, outcome.gross_minor, outcome.net_minor = row["orders"], row["gross"], row["net"]
        else:
            outcome.leads = row["leads"]
    series = {f"channel|{touch}|{s}|{c}|{currency}": (s, c) for s, c in found}
    for name, count in distinct_leads(series=list(series), period=period).items():
        found[series[name]].buyers = count
    # Buyers acquired in the range: their first purchase in this currency falls in it.
    fact = LeadFact.objects.filter(lead_id=OuterRef("lead_id"))
    predicted = CustomerValue.objects.filter(lead_id=OuterRef("lead_id"), currency=currency)
    new = (
        Buyer.objects.filter(currency=currency, first_day__gte=period.since, first_day__lt=period.until)
        .annotate(
            source=Subquery(fact.values(f"{touch}_source")[:1]),
            campaign=Subquery(fact.values(f"{touch}_campaign")[:1]),
            future=Coalesce(Subquery(predicted.values("predicted_value_minor")[:1]), 0),
        )
        .values("source", "campaign")
        .annotate(n=Count("pk"), value=Sum("net_minor") + Sum("future"))
    )
    for row in new:
        if row["source"] is None:
            continue  # a buyer with no events has no channel (the channel reports leave them out too)
        outcome = found[(row["source"], row["campaign"])]
        outcome.new_buyers, outcome.value_minor = row["n"], int(row["value"] or 0)
    _clicks_resolved(found, period, currency, touch)
    return {key: outcome for key, outcome in found.items() if outcome != Outcome()}


def _clicks_resolved(found: dict[Key, Outcome], period: Period, currency: str, touch: str) -> None:
    """Leads whose touch carried only a Google click id, moved from ("google (click id)", "") to the campaign that
    Google's click_view says the click was on, with their leads, orders, buyers and value."""
    if (CLICK, "") not in found:
        return
    leads = LeadFact.objects.filter(**{f"{touch}_source": CLICK, f"{touch}_campaign": ""}).values("lead_id")
    gclids = dict(Touch.objects.filter(lead_id__in=leads, kind=touch).exclude(gclid="").values_list("lead_id", "gclid"))
    campaign_of = dict(ClickCampaign.objects.filter(gclid__in=set(gclids.values())).values_list("gclid", "campaign_id"))
    moved = {lead: campaign_of[gclid] for lead, gclid in gclids.items() if gclid in campaign_of}
    if not moved:
        return
    parts: dict[int, Outcome] = defaultdict(Outcome)
    for lead_id in LeadFact.objects.filter(
        lead_id__in=list(moved), created_day__gte=period.since, created_day__lt=period.until
    ).values_list("lead_id", flat=True):
        parts[lead_id].leads = 1
    for lead_id, gross, refunds in OrderFact.objects.filter(
        lead_id__in=list(moved), currency=currency, day__gte=period.since, day__lt=period.until
    ).values_list("lead_id", "gross_minor", "refunds_minor"):
        part = parts[lead_id]
        part.orders, part.gross_minor, part.net_minor = (
            part.orders + 1,
            part.gross_minor + gross,
            part.net_minor + gross - refunds,
        )
        part.buyers = 1
    predicted = dict(
        CustomerValue.objects.filter(lead_id__in=list(moved), currency=currency).values_list(
            "lead_id", "predicted_value_minor"
        )
    )
    for lead_id, net in Buyer.objects.filter(
        lead_id__in=list(moved), currency=currency, first_day__gte=period.since, first_day__lt=period.until
    ).values_list("lead_id", "net_minor"):
        parts[lead_id].new_buyers, parts[lead_id].value_minor = 1, net + (predicted.get(lead_id) or 0)
    for lead_id, part in parts.items():
        for key, sign in (((CLICK, ""), -1), ((CLICK, moved[lead_id]), 1)):
            outcome = found[key]
            for name in ("leads", "orders", "gross_minor", "net_minor", "buyers", "new_buyers", "value_minor"):
                setattr(outcome, name, getattr(outcome, name) + sign * getattr(part, name))


def _platform_rows(period: Period, currency: str, outcomes: dict[Key, Outcome], claimed: set[Key]) -> list[RoiRow]:
    campaigns = list(
        CampaignDay.objects.filter(day__gte=period.since, day__lt=period.until)
        .values("account__platform", "account__account_id", "campaign_id", "currency")
        .annotate(
            spend=Sum("spend_minor"),
            impressions=Sum("impressions"),
            clicks=Sum("clicks"),
            conversions=Sum("platform_conversions"),
            conversion_value=Sum("platform_conversion_value_minor"),
            last_day=Max("day"),
        )
        .order_by("account__platform", "account__account_id", "campaign_id", "currency")
    )
    names: dict[tuple[str, str], str] = {}  # each campaign's name on its last day in the range
    for account_id, campaign_id, name in (
        CampaignDay.objects.filter(day__gte=period.since, day__lt=period.until)
        .order_by("day")
        .values_list("account__account_id", "campaign_id", "campaign_name")
    ):
        names[(account_id, campaign_id)] = name or names.get((account_id, campaign_id), "")
    by_campaign: dict[str, list[Key]] = defaultdict(list)
    by_name: dict[str, list[Key]] = defaultdict(list)
    for key in outcomes:
        by_campaign[key[1]].append(key)
    matched: list[tuple[dict[str, Any], str, list[Key]]] = []
    for spent in campaigns:
        keys = [k for k in by_campaign.get(normalize_utm(spent["campaign_id"]), []) if k not in claimed]
        claimed.update(keys)
        matched.append((spent, _by_id(keys), keys))
    for key in outcomes:
        if key not in claimed:
            by_name[key[1]].append(key)
    rows = []
    for spent, method, keys in matched:
        name = names.get((spent["account__account_id"], spent["campaign_id"]), "")
        if not keys and name:
            keys = [k for k in by_name.get(normalize_utm(name), []) if k not in claimed]
            claimed.update(keys)
            method = "campaign name" if keys else ""
        rows.append(
            _row(
                spent["account__platform"],
                spent["account__account_id"],
                spent["campaign_id"],
                name,
                method or "no outcome",
                keys,
                spent["currency"],
                spent,
                outcomes,
            )
        )
    return rows


def _by_id(keys: list[Key]) -> str:
    clicks = sum(1 for source, _ in keys if source == CLICK)
    if not keys:
        return ""
    return "click id" if clicks == len(keys) else "campaign id and click id" if clicks else "campaign id"


def _other_cost_rows(period: Period, currency: str, outcomes: dict[Key, Outcome], claimed: set[Key]) -> list[RoiRow]:
    costs = (
        OtherCost.objects.filter(day__gte=period.since, day__lt=period.until)
        .values("source", "campaign", "currency")
        .annotate(spend=Sum("amount_minor"))
        .order_by("-campaign", "source", "currency")  # a cost with a campaign claims before one for the source
    )
    rows = []
    for cost in costs:
        source, campaign = normalize_utm(cost["source"]), normalize_utm(cost["campaign"])
        if campaign:
            keys = [(source, campaign)] if (source, campaign) in outcomes and (source, campaign) not in claimed else []
            method = "source and campaign"
        else:
            keys = sorted(k for k in outcomes if k[0] == source and k not in claimed)
            method = "source"
        claimed.update(keys)
        spent = {"spend": cost["spend"]}
        rows.append(
            _row(
                "other",
                "",
                "",
                f"{cost['source']} {cost['campaign']}".strip(),
                method if keys else "no outcome",
                keys,
                cost["currency"],
                spent,
                outcomes,
            )
        )
    return rows


def _row(
    platform: str,
    account: str,
    campaign_id: str,
    campaign: str,
    match: str,
    keys: list[Key],
    spend_currency: str,
    spent: dict[str, Any],
    outcomes: dict[Key, Outcome],
) -> RoiRow:
    total = Outcome()
    for key in keys:
        got = outcomes[key]
        for name in ("leads", "orders", "gross_minor", "net_minor", "buyers", "new_buyers", "value_minor"):
            setattr(total, name, getattr(total, name) + getattr(got, name))
    return RoiRow(
        platform=platform,
        account=account,
        campaign_id=campaign_id,
        campaign=campaign or (keys[0][1] if keys and not platform else ""),
        match=match,
        touches=[f"{s} / {c or '(no campaign)'}" for s, c in keys],
        spend_currency=spend_currency,
        spend_minor=int(spent.get("spend") or 0),
        impressions=int(spent.get("impressions") or 0),
        clicks=int(spent.get("clicks") or 0),
        platform_conversions=str(Decimal(spent.get("conversions") or 0).quantize(Decimal("0.01"))),
        platform_conversion_value_minor=int(spent.get("conversion_value") or 0),
        leads=total.leads,
        buyers=total.buyers,
        new_buyers=total.new_buyers,
        orders=total.orders,
        gross_minor=total.gross_minor,
        net_minor=total.net_minor,
        value_minor=total.value_minor,
    )


def _ratios(row: RoiRow, currency: str, period: Period) -> None:
    spend = row.spend_converted_minor = _spend_in(row, currency, period)
    if spend is None:
        row.note = (
            f"Spend is in {row.spend_currency}; add an exchange rate to {currency} (Analytics → Exchange rates) to "
            "compare it with revenue."
        )
        return
    row.cpc_minor = _per(spend, row.clicks)
    row.cpl_minor = _per(spend, row.leads)
    row.cac_minor = _per(spend, row.new_buyers)
    if spend:
        row.roas = _ratio(row.net_minor, spend)
        row.roi = _ratio(row.net_minor - spend, spend)
        row.ltv_cac = _ratio(row.value_minor, spend) if row.new_buyers else None


def _spend_in(row: RoiRow, currency: str, period: Period) -> int | None:
    if row.spend_currency == currency or not row.spend_minor:
        return row.spend_minor
    if currency != settings.REPORTS_CURRENCY:
        return None
    total = total_in_reporting_currency({row.spend_currency: row.spend_minor}, day=period.until - dt.timedelta(days=1))
    return total.amount_minor


def _per(total: int, count: int) -> int | None:
    """``total / count`` in whole minor units, rounded half to even, exactly; None when nothing was counted."""
    return round(Fraction(total, count)) if count else None


def _ratio(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 4)


def _totals(rows: list[RoiRow]) -> dict[str, Any]:
    """Spend of every row that converts; the return of the rows with spend (ROAS, CAC) and of all rows (blended)."""
    paid = [r for r in rows if r.platform and r.spend_converted_minor is not None]
    spend = sum(r.spend_converted_minor or 0 for r in paid)
    attributed = sum(r.net_minor for r in paid)
    net = sum(r.net_minor for r in rows)
    new_buyers = sum(r.new_buyers for r in paid)
    return {
        "spend_minor": spend,
        "attributed_net_minor": attributed,
        "net_minor": net,
        "new_buyers": new_buyers,
        "roas": _ratio(attributed, spend) if spend else None,
        "blended_roas": _ratio(net, spend) if spend else None,
        "cac_minor": _per(spend, new_buyers),
        "unconverted_spend": sorted({r.spend_currency for r in rows if r.platform and r.spend_converted_minor is None}),
    }
