"""Offers, channels and campaigns."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Sum

from analytics.models import (
    ChannelDay,
    LeadSeriesDay,
    SalesDay,
)
from analytics.reports.ranges import (
    Period,
    _ratio,
)
from offers.models import Offer

# --- offers -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class OfferRow:
    offer: str
    name: str
    role: str
    currency: str
    buyers: int
    units: int
    gross_minor: int
    refunds_minor: int
    net_minor: int
    refund_rate: float | None


def distinct_leads(*, series: list[str], period: Period) -> dict[str, int]:
    """series → distinct leads that bought in ``period`` in that series (``LeadSeriesDay``, exact)."""
    rows = LeadSeriesDay.objects.filter(
        series__in=series, day__gte=period.since, day__lt=period.until, prev_day__lt=period.since
    )
    return dict(rows.values("series").annotate(n=Sum("leads")).values_list("series", "n"))


def offers_report(*, period: Period) -> list[OfferRow]:
    """Per offer: buyers (distinct leads), units (order lines), gross, refunds and lost disputes, net, refund rate,
    over orders paid in ``period``."""
    rows = list(
        SalesDay.objects.filter(day__gte=period.since, day__lt=period.until)
        .values("offer_id", "currency")
        .annotate(units=Sum("lines"), gross=Sum("gross_minor"), refunds=Sum("refunds_minor"))
    )
    buyers = distinct_leads(series=[f"offer|{r['offer_id']}|{r['currency']}" for r in rows], period=period)
    offers = {o.pk: o for o in Offer.objects.filter(pk__in=[r["offer_id"] for r in rows])}
    out = [
        OfferRow(
            offer=offers[r["offer_id"]].slug if r["offer_id"] in offers else str(r["offer_id"]),
            name=offers[r["offer_id"]].name if r["offer_id"] in offers else "(deleted offer)",
            role=offers[r["offer_id"]].role if r["offer_id"] in offers else "",
            currency=r["currency"],
            buyers=buyers.get(f"offer|{r['offer_id']}|{r['currency']}", 0),
            units=r["units"],
            gross_minor=r["gross"],
            refunds_minor=r["refunds"],
            net_minor=r["gross"] - r["refunds"],
            refund_rate=_ratio(r["refunds"], r["gross"]),
        )
        for r in rows
    ]
    return sorted(out, key=lambda r: (r.currency, -r.net_minor, r.offer))


# --- channels and campaigns ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelRow:
    touch: str  # "first" or "last"
    source: str
    campaign: str
    currency: str
    leads: int
    buyers: int
    orders: int
    gross_minor: int
    net_minor: int


def channels_report(*, period: Period) -> list[ChannelRow]:
    """Leads created in ``period`` and orders paid in it, by first-touch and by last-touch source and campaign."""
    leads: dict[tuple[str, str, str], int] = defaultdict(int)
    money: dict[tuple[str, str, str, str], list[int]] = {}
    for row in (
        ChannelDay.objects.filter(day__gte=period.since, day__lt=period.until)
        .values("touch", "source", "campaign", "currency")
        .annotate(leads=Sum("leads"), orders=Sum("orders"), gross=Sum("gross_minor"), net=Sum("net_minor"))
    ):
        key = (row["touch"], row["source"], row["campaign"])
        if row["currency"]:
            money[(*key, row["currency"])] = [row["orders"], row["gross"], row["net"]]
        else:
            leads[key] += row["leads"]
    keys = {*leads, *(k[:3] for k in money)}
    rows_keys = [
        (*key, currency)
        for key in keys
        for currency in sorted({k[3] for k in money if k[:3] == key}) or [settings.REPORTS_CURRENCY]
    ]
    buyers = distinct_leads(series=[f"channel|{t}|{s}|{c}|{cur}" for t, s, c, cur in rows_keys], period=period)
    out = []
    for touch, source, campaign, currency in rows_keys:
        orders, gross, net = money.get((touch, source, campaign, currency), [0, 0, 0])
        out.append(
            ChannelRow(
                touch=touch,
                source=source,
                campaign=campaign,
                currency=currency,
                leads=leads.get((touch, source, campaign), 0),
                buyers=buyers.get(f"channel|{touch}|{source}|{campaign}|{currency}", 0),
                orders=orders,
                gross_minor=gross,
                net_minor=net,
            )
        )
    return sorted(out, key=lambda r: (r.touch, r.currency, -r.net_minor, -r.leads, r.source, r.campaign))
