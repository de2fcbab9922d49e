"""The funnel report."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db.models import Sum

from analytics.models import (
    Kind,
    OrderDay,
    SalesDay,
)
from analytics.reports.ranges import (
    Period,
    _ratio,
    distinct_visitors,
)
from common.money import divide_minor
from funnels.models import Funnel, Step
from funnels.selectors import CONVERSION_EVENTS, funnel_graph

# --- the funnel report --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class StepRow:
    step: str
    name: str
    kind: str
    visitors: int
    conversions: int
    rate: float | None
    drop_off: float | None
    orders: int
    gross_minor: int
    refunds_minor: int
    net_minor: int
    aov_minor: int | None
    bump_orders: int | None
    bump_take_rate: float | None
    accept_rate: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Totals:
    entries: int
    orders: int
    gross_minor: int
    refunds_minor: int
    net_minor: int
    epc_minor: int | None
    aov_minor: int | None
    refunded_orders: int
    refund_rate: float | None
    refunded_order_rate: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class FunnelReport:
    funnel: str
    name: str
    since: dt.date
    until: dt.date
    currency: str
    steps: list[StepRow]
    totals: Totals
    other_currencies: dict[str, Totals] = field(default_factory=dict)
    previous: Totals | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["since"], data["until"] = self.since.isoformat(), self.until.isoformat()
        return data


OFFER_STEPS = ("upsell", "downsell", "cross_sell")


def steps_in_order(funnel: Funnel) -> list[Step]:
    """The funnel's steps in graph order: breadth first from the entry, each step's "yes" route before its "no"
    route, then any step no route reaches (by position); thank-you pages last."""
    graph = funnel_graph(funnel=funnel)
    steps = {step.pk: step for step in Step.objects.filter(funnel=funnel)}
    order: list[int] = []
    queue = [graph.entry_id] if graph.entry_id in steps else []
    while queue:
        current = queue.pop(0)
        if current in order:
            continue
        order.append(current)
        routes = graph.routes.get(current, {})
        queue.extend(routes[outcome] for outcome in ("accept", "decline") if outcome in routes)
    rest = sorted((s for s in steps.values() if s.pk not in order), key=lambda s: (s.position, s.pk))
    ordered = [steps[pk] for pk in order] + rest
    # Thank-you pages end every path: shown last, after the offers that lead to them.
    return [s for s in ordered if s.kind != Step.Kind.THANK_YOU] + [s for s in ordered if s.kind == Step.Kind.THANK_YOU]


def _totals(funnel_id: int, period: Period, entries: int) -> dict[str, Totals]:
    out = {}
    for row in (
        OrderDay.objects.filter(funnel_id=funnel_id, day__gte=period.since, day__lt=period.until)
        .values("currency")
        .annotate(
            orders=Sum("orders"),
            gross=Sum("gross_minor"),
            refunds=Sum("refunds_minor"),
            refunded=Sum("refunded_orders"),
        )
    ):
        gross, refunds, orders = row["gross"], row["refunds"], row["orders"]
        out[row["currency"]] = Totals(
            entries=entries,
            orders=orders,
            gross_minor=gross,
            refunds_minor=refunds,
            net_minor=gross - refunds,
            epc_minor=divide_minor(gross - refunds, entries),
            aov_minor=divide_minor(gross, orders),
            refunded_orders=row["refunded"],
            refund_rate=_ratio(refunds, gross),
            refunded_order_rate=_ratio(row["refunded"], orders),
        )
    return out


def _empty_totals(entries: int) -> Totals:
    return Totals(
        entries=entries, orders=0, gross_minor=0, refunds_minor=0, net_minor=0, epc_minor=divide_minor(0, entries),
        aov_minor=None, refunded_orders=0, refund_rate=None, refunded_order_rate=None,
    )  # fmt: skip


def funnel_report(*, funnel: Funnel, period: Period, with_previous: bool = True) -> FunnelReport:
    """Every step's visitors, conversions and money, and the funnel's totals, for ``period`` (and the one before)."""
    steps = steps_in_order(funnel)
    ids = [s.pk for s in steps]
    counts = distinct_visitors(step_ids=ids, period=period)
    money: dict[tuple[int, bool], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in (
        SalesDay.objects.filter(
            funnel_id=funnel.pk, currency=funnel.currency, day__gte=period.since, day__lt=period.until
        )
        .values("step_id", "is_bump")
        .annotate(lines=Sum("lines"), gross=Sum("gross_minor"), refunds=Sum("refunds_minor"))
    ):
        bucket = money[(row["step_id"], row["is_bump"])]
        bucket["lines"] += row["lines"]
        bucket["gross"] += row["gross"]
        bucket["refunds"] += row["refunds"]
    rows = []
    for step in steps:
        visitors = counts.get((Kind.VIEW, step.pk, 0), 0)
        conversions = counts.get((Kind.CONVERSION, step.pk, 0), 0)
        main, bump = money.get((step.pk, False), {}), money.get((step.pk, True), {})
        orders = main.get("lines", 0)
        gross = main.get("gross", 0) + bump.get("gross", 0)
        refunds = main.get("refunds", 0) + bump.get("refunds", 0)
        # A thank-you page has no conversion of its own: no rate, rather than a 0 % that reads as a failure.
        rate = _ratio(conversions, visitors) if CONVERSION_EVENTS.get(step.kind) else None
        is_order_form = step.kind == Step.Kind.ORDER_FORM
        rows.append(
            StepRow(
                step=step.slug,
                name=step.name,
                kind=step.kind,
                visitors=visitors,
                conversions=conversions,
                rate=rate,
                drop_off=round(1 - rate, 6) if rate is not None else None,
                orders=orders,
                gross_minor=gross,
                refunds_minor=refunds,
                net_minor=gross - refunds,
                aov_minor=divide_minor(gross, orders),
                bump_orders=bump.get("lines", 0) if is_order_form and step.bump_offer_id else None,
                bump_take_rate=_ratio(bump.get("lines", 0), orders) if is_order_form and step.bump_offer_id else None,
                accept_rate=rate if step.kind in OFFER_STEPS else None,
            )
        )
    entry = funnel.entry_step_id
    entries = counts.get((Kind.VIEW, entry, 0), 0) if entry else 0
    totals = _totals(funnel.pk, period, entries)
    previous = None
    if with_previous:
        before = period.previous()
        previous_entries = (
            distinct_visitors(step_ids=[entry], period=before).get((Kind.VIEW, entry, 0), 0) if entry else 0
        )
        previous = _totals(funnel.pk, before, previous_entries).get(funnel.currency) or _empty_totals(previous_entries)
    return FunnelReport(
        funnel=funnel.slug,
        name=funnel.name,
        since=period.since,
        until=period.until,
        currency=funnel.currency,
        steps=rows,
        totals=totals.pop(funnel.currency) if funnel.currency in totals else _empty_totals(entries),
        other_currencies=totals,
        previous=previous,
    )
