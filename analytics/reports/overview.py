"""The dashboard's overview of all funnels."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Sum

from analytics.models import (
    ChannelDay,
    Kind,
    OrderDay,
)
from analytics.reports.ranges import (
    Period,
    _ratio,
    distinct_visitors,
)
from analytics.reports.sales import distinct_leads
from common.money import divide_minor
from funnels.models import Funnel

# --- the dashboard's overview ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Overview:
    currency: str
    leads: int
    buyers: int
    orders: int
    entries: int
    gross_minor: int
    refunds_minor: int
    net_minor: int
    epc_minor: int | None
    refund_rate: float | None


def overview(*, period: Period, currency: str) -> Overview:
    """All funnels together in ``currency``: new leads (with their first-touch channel), buyers (distinct leads with
    an order paid in the period), orders, money, EPC (net / the entries of every funnel) and refund rate."""

    totals = OrderDay.objects.filter(currency=currency, day__gte=period.since, day__lt=period.until).aggregate(
        orders=Sum("orders"), gross=Sum("gross_minor"), refunds=Sum("refunds_minor")
    )
    new_leads = ChannelDay.objects.filter(touch="first", currency="", day__gte=period.since, day__lt=period.until)
    entries = sum(
        distinct_visitors(step_ids=[entry], period=period).get((Kind.VIEW, entry, 0), 0)
        for entry in Funnel.objects.exclude(entry_step=None).values_list("entry_step_id", flat=True)
    )
    gross, refunds = totals["gross"] or 0, totals["refunds"] or 0
    return Overview(
        currency=currency,
        leads=new_leads.aggregate(n=Sum("leads"))["n"] or 0,
        buyers=distinct_leads(series=[f"all|{currency}"], period=period).get(f"all|{currency}", 0),
        orders=totals["orders"] or 0,
        entries=entries,
        gross_minor=gross,
        refunds_minor=refunds,
        net_minor=gross - refunds,
        epc_minor=divide_minor(gross - refunds, entries),
        refund_rate=_ratio(refunds, gross),
    )
