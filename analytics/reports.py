"""The reports, as ``docs/metrics.md`` defines them, read from the rollups. One layer for the admin, the API and the
``funnel_report`` command: each returns plain frozen values with ``as_dict()`` for JSON and CSV.

A range is ``[since, until)`` of local dates in ``settings.TIME_ZONE``. Money is integer minor units per currency,
never mixed.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils import timezone

from analytics.models import (
    ChannelDay,
    CohortCell,
    DistinctDay,
    Kind,
    LeadSeriesDay,
    OrderDay,
    RfmCell,
    SalesDay,
)
from analytics.stats import Sample, compare, holm, sample_ratio_p
from common.errors import ApplicationError
from common.money import divide_minor, format_money
from funnels.models import Funnel, Step, Variant
from funnels.selectors import CONVERSION_EVENTS, funnel_graph
from leads.models import Lead
from offers.models import Offer

MAX_RANGE_DAYS = 3 * 366
ZERO_DAY = dt.date(1, 1, 1)


# --- ranges -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    since: dt.date
    until: dt.date

    @property
    def days(self) -> int:
        return (self.until - self.since).days

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.since - dt.timedelta(days=self.days), self.since)

    def start(self) -> dt.datetime:
        return _local_midnight(self.since)

    def end(self) -> dt.datetime:
        return _local_midnight(self.until)


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()), timezone.get_default_timezone())


def period_parse(since: str | dt.date | None, until: str | dt.date | None, *, default_days: int = 30) -> Period:
    """A valid range from two YYYY-MM-DD dates (either may be missing: the last ``default_days`` days up to today,
    inclusive); ApplicationError names what to fix."""
    today = timezone.localdate()

    def parse(value: str | dt.date | None, name: str) -> dt.date | None:
        if value is None or value == "":
            return None
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ApplicationError(f"{name} must be a date as YYYY-MM-DD, not {value[:20]!r}.", field=name) from None

    start, end = parse(since, "since"), parse(until, "until")
    end = end or (
        today + dt.timedelta(days=1) if start is None or start <= today else start + dt.timedelta(days=default_days)
    )
    start = start or end - dt.timedelta(days=default_days)
    if start >= end:
        raise ApplicationError(f"since ({start}) must be before until ({end}); until is not included.", field="since")
    if (end - start).days > MAX_RANGE_DAYS:
        raise ApplicationError(
            f"A report covers at most 3 years; {start} to {end} is {(end - start).days} days.", field="until"
        )
    return Period(start, end)


def standard_periods(today: dt.date | None = None) -> dict[str, Period]:
    """The ranges the dashboard offers: the last 7/30/90 days (today included), this month and last month."""
    today = today or timezone.localdate()
    tomorrow = today + dt.timedelta(days=1)
    first = today.replace(day=1)
    last_month_first = (first - dt.timedelta(days=1)).replace(day=1)
    return {
        "last_7_days": Period(tomorrow - dt.timedelta(days=7), tomorrow),
        "last_30_days": Period(tomorrow - dt.timedelta(days=30), tomorrow),
        "last_90_days": Period(tomorrow - dt.timedelta(days=90), tomorrow),
        "this_month": Period(first, tomorrow),
        "last_month": Period(last_month_first, first),
    }


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


# --- distinct visitors over a range ------------------------------------------------------------------------------


def distinct_visitors(*, step_ids: list[int], period: Period, variant: bool = False) -> dict[tuple[int, int, int], int]:
    """(kind, step, variant or 0) → distinct visitors in ``period``: the DistinctDay rows of each visitor's first
    day in the range (``prev_day < since``). With ``variant``, per variant; else all variants together."""
    rows = DistinctDay.objects.filter(
        step_id__in=step_ids, day__gte=period.since, day__lt=period.until, prev_day__lt=period.since
    )
    rows = rows.exclude(variant_id=0) if variant else rows.filter(variant_id=0)
    return {
        (row["kind"], row["step_id"], row["variant_id"]): row["visitors"]
        for row in rows.values("kind", "step_id", "variant_id").annotate(visitors=Sum("visitors"))
    }


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


# --- split tests --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class VariantRow:
    variant_id: int
    name: str
    weight: int
    is_control: bool
    visitors: int
    conversions: int
    rate: float | None
    matured_visitors: int
    buyers: int
    net_minor: int
    net_per_visitor_minor: float | None
    difference_minor: float | None = None
    p_value: float | None = None
    p_value_holm: float | None = None
    ci_low_minor: float | None = None
    ci_high_minor: float | None = None
    sequential_low_minor: float | None = None
    sequential_high_minor: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SplitTestReport:
    funnel: str
    step: str
    since: dt.date
    until: dt.date
    currency: str
    maturity_days: int
    variants: list[VariantRow]
    sample_ratio_p: float | None
    verdict: str
    ready: bool

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["since"], data["until"] = self.since.isoformat(), self.until.isoformat()
        return data


MIN_BUYERS = 100  # per variant, before any verdict on revenue


def _revenue_samples(
    step: Step, currency: str, start: dt.datetime, end: dt.datetime
) -> dict[int, tuple[int, int, int, int]]:
    """variant → (visitors, buyers, Σy, Σy²) over matured exposures, y = the visitor's net revenue in the funnel."""
    from analytics.models import Exposure, VisitorValue

    exposure, value = Exposure._meta.db_table, VisitorValue._meta.db_table
    sql = (
        f"SELECT e.variant_id, COUNT(*), COUNT(v.net_minor), COALESCE(SUM(v.net_minor), 0), "  # noqa: S608
        f"COALESCE(SUM(v.net_minor * v.net_minor), 0) FROM {exposure} e LEFT JOIN {value} v "
        f"ON v.visitor_id = e.visitor_id AND v.funnel_id = %s AND v.currency = %s "
        f"WHERE e.step_id = %s AND e.first_at >= %s AND e.first_at < %s GROUP BY e.variant_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [step.funnel_id, currency, step.pk, start, end])
        return {row[0]: (int(row[1]), int(row[2]), int(row[3]), int(row[4])) for row in cursor.fetchall()}


def split_test_report(
    *, step: Step, period: Period, maturity_days: int | None = None, now: dt.datetime | None = None, alpha: float = 0.05
) -> SplitTestReport:
    """Each variant's visitors and conversions, and its net revenue per visitor against the control (the first
    variant) by Welch's t-test and an always-valid interval; only visitors whose refund window has passed count."""
    now = now or timezone.now()
    maturity = settings.SPLIT_TEST_MATURITY_DAYS if maturity_days is None else maturity_days
    variants = list(Variant.objects.filter(step=step).order_by("id"))
    currency = step.funnel.currency
    counts = distinct_visitors(step_ids=[step.pk], period=period, variant=True)
    end = min(period.end(), now - dt.timedelta(days=maturity))
    samples = _revenue_samples(step, currency, period.start(), end) if end > period.start() else {}
    planned = settings.SPLIT_TEST_PLANNED_VISITORS
    control_sample: Sample | None = None
    rows: list[VariantRow] = []
    comparisons = []
    for index, variant in enumerate(variants):
        n, buyers, total, squares = samples.get(variant.pk, (0, 0, 0, 0))
        sample = Sample(n=n, total=float(total), total_squares=float(squares))
        if index == 0:
            control_sample = sample
        comparison = compare(control_sample, sample, alpha=alpha, planned=planned) if index and control_sample else None
        comparisons.append(comparison)
        visitors = counts.get((Kind.VIEW, step.pk, variant.pk), 0)
        conversions = counts.get((Kind.CONVERSION, step.pk, variant.pk), 0)
        rows.append(
            VariantRow(
                variant_id=variant.pk,
                name=variant.name,
                weight=variant.weight,
                is_control=index == 0,
                visitors=visitors,
                conversions=conversions,
                rate=_ratio(conversions, visitors),
                matured_visitors=n,
                buyers=buyers,
                net_minor=total,
                net_per_visitor_minor=round(sample.mean, 4) if n else None,
                difference_minor=round(comparison.difference, 4) if comparison and n else None,
                p_value=comparison.p_value if comparison else None,
                ci_low_minor=comparison.ci_low if comparison else None,
                ci_high_minor=comparison.ci_high if comparison else None,
                sequential_low_minor=comparison.sequential_low if comparison else None,
                sequential_high_minor=comparison.sequential_high if comparison else None,
            )
        )
    adjusted = (
        holm([c.p_value if c else None for c in comparisons[1:]])
        if len(variants) > 2
        else [c.p_value if c else None for c in comparisons[1:]]
    )
    rows = [rows[0], *(_with_holm(row, p) for row, p in zip(rows[1:], adjusted, strict=True))] if rows else rows
    srm = sample_ratio_p([r.matured_visitors for r in rows if r.weight], [r.weight for r in rows if r.weight])
    verdict, ready = _verdict(rows, currency, srm, alpha)
    return SplitTestReport(
        funnel=step.funnel.slug,
        step=step.slug,
        since=period.since,
        until=period.until,
        currency=currency,
        maturity_days=maturity,
        variants=rows,
        sample_ratio_p=srm,
        verdict=verdict,
        ready=ready,
    )


def _with_holm(row: VariantRow, p: float | None) -> VariantRow:
    data = asdict(row)
    data["p_value_holm"] = p
    return VariantRow(**data)


def _money_text(amount_minor: float, currency: str) -> str:
    return format_money(round(amount_minor), currency)


def _verdict(rows: list[VariantRow], currency: str, srm: float | None, alpha: float) -> tuple[str, bool]:
    """One line a marketer can act on. Only the always-valid interval ends a test: conversion rate never does."""
    if len(rows) < 2:
        return "Not a split test: add a second variant to compare.", False
    if srm is not None and srm < 0.001:
        return (
            f"Check the set-up before reading results: visitors are not split as the weights say (p = {srm:.1e}).",
            False,
        )
    sure = f"{round((1 - alpha) * 100)} % sure"
    lines, ready = [], False
    control = rows[0]
    for row in rows[1:]:
        if min(control.buyers, row.buyers) < MIN_BUYERS or row.sequential_low_minor is None:
            lines.append(
                f"{row.name}: keep running — {MIN_BUYERS} buyers a variant are needed before revenue can decide "
                f"({control.name} has {control.buyers}, {row.name} {row.buyers})."
            )
            continue
        difference = row.difference_minor or 0.0
        low, high = row.sequential_low_minor, row.sequential_high_minor or 0.0
        if low > 0 or high < 0:
            ready = True
            word = "more" if difference > 0 else "less"
            lines.append(
                f"{row.name} earns {_money_text(abs(difference), currency)} {word} per visitor than {control.name}, "
                f"{sure}: ready to decide."
            )
        else:
            lines.append(
                f"{row.name} vs {control.name}: {_money_text(difference, currency)} per visitor so far, between "
                f"{_money_text(low, currency)} and {_money_text(high, currency)} ({sure}); keep running."
            )
    return " ".join(lines), ready


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


# --- lists and retention ------------------------------------------------------------------------------------------


def leads_per_day(*, period: Period) -> list[tuple[dt.date, int]]:
    """New leads per local day of ``period`` (every day listed, zeros included)."""
    from django.db.models.functions import TruncDate

    counts = dict(
        Lead.objects.filter(created_at__gte=period.start(), created_at__lt=period.end())
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_default_timezone()))
        .values_list("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    return [
        (period.since + dt.timedelta(days=i), counts.get(period.since + dt.timedelta(days=i), 0))
        for i in range(period.days)
    ]


def revenue_per_day(*, period: Period, currency: str) -> list[tuple[dt.date, int, int]]:
    """(day, gross, net) of orders paid each local day of ``period`` in ``currency``, every day listed."""
    rows = {
        r["day"]: r
        for r in OrderDay.objects.filter(currency=currency, day__gte=period.since, day__lt=period.until)
        .values("day")
        .annotate(gross=Sum("gross_minor"), refunds=Sum("refunds_minor"))
    }
    out = []
    for i in range(period.days):
        day = period.since + dt.timedelta(days=i)
        row = rows.get(day)
        out.append((day, row["gross"] if row else 0, (row["gross"] - row["refunds"]) if row else 0))
    return out


@dataclass(frozen=True, kw_only=True, slots=True)
class CohortRow:
    cohort: str  # YYYY-MM
    buyers: int
    net_minor: int
    retention: list[float | None]  # share of the cohort buying in month 0, 1, 2, ... (None: month not reached)


def _add_months(day: dt.date, months: int) -> dt.date:
    total = day.year * 12 + day.month - 1 + months
    return dt.date(total // 12, total % 12 + 1, 1)


def cohorts_report(*, period: Period, currency: str, today: dt.date | None = None) -> list[CohortRow]:
    """Monthly acquisition cohorts of buyers (first order with a positive net) whose month starts in ``period``, with
    the share of each cohort that bought again in each later month."""
    today = today or timezone.localdate()
    first = period.since.replace(day=1)
    cells: dict[dt.date, dict[dt.date, tuple[int, int]]] = defaultdict(dict)
    for cohort, month, buyers, net in CohortCell.objects.filter(
        currency=currency, cohort__gte=first, cohort__lt=period.until
    ).values_list("cohort", "month", "buyers", "net_minor"):
        cells[cohort][month] = (buyers, net)
    rows = []
    for cohort in sorted(cells):
        size = cells[cohort].get(cohort, (0, 0))[0]
        months = (today.year - cohort.year) * 12 + today.month - cohort.month
        retention = [_ratio(cells[cohort].get(_add_months(cohort, k), (0, 0))[0], size) for k in range(months + 1)]
        rows.append(
            CohortRow(
                cohort=cohort.strftime("%Y-%m"),
                buyers=size,
                net_minor=sum(net for _, net in cells[cohort].values()),
                retention=retention,
            )
        )
    return rows


# --- RFM ----------------------------------------------------------------------------------------------------------

# Segments by recency and frequency score (1–5 each), the usual RFM grid: the first pattern that matches names it.
SEGMENTS: list[tuple[str, set[int], set[int]]] = [
    ("champions", {5}, {4, 5}),
    ("loyal", {3, 4}, {4, 5}),
    ("cannot_lose", {1, 2}, {5}),
    ("at_risk", {1, 2}, {3, 4}),
    ("hibernating", {1, 2}, {1, 2}),
    ("potential_loyalists", {4, 5}, {2, 3}),
    ("new_customers", {5}, {1}),
    ("promising", {4}, {1}),
    ("need_attention", {3}, {3}),
    ("about_to_sleep", {3}, {1, 2}),
]


def segment_of(recency: int, frequency: int) -> str:
    for name, r_scores, f_scores in SEGMENTS:
        if recency in r_scores and frequency in f_scores:
            return name
    raise ValueError(f"no segment for R{recency} F{frequency}")


def _scores(values: dict[Any, int], better_high: bool) -> dict[Any, int]:
    """Quintile scores 1–5 by rank: ``1 + floor(5 × (buyers ranked strictly worse) / all buyers)``; ties share one."""
    total = sum(values.values())
    scores, worse = {}, 0
    for value in sorted(values, reverse=not better_high):
        scores[value] = 1 + (5 * worse) // total
        worse += values[value]
    return scores


@dataclass(frozen=True, kw_only=True, slots=True)
class SegmentRow:
    segment: str
    buyers: int
    net_minor: int
    share: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class RfmReport:
    currency: str
    as_of: dt.date
    buyers: int
    segments: list[SegmentRow]
    grid: dict[str, int]  # "R5F4" → buyers

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        return data


def rfm_cells(currency: str) -> list[tuple[dt.date, int, int, int]]:
    """(last purchase day, purchases, buyers, their net) of every cell: at most a few thousand rows."""
    return list(RfmCell.objects.filter(currency=currency).values_list("last_day", "orders", "buyers", "net_minor"))


@dataclass(frozen=True, slots=True)
class RfmScale:
    """Where the quintile scores change, so any buyer is scored without ranking them all again."""

    as_of: dt.date
    recency: dict[int, int]  # days since the last purchase → R
    frequency: dict[int, int]  # purchases → F
    monetary: list[int]  # the net values that start M scores 2, 3, 4, 5 (a buyer's M is 1 + how many they reach)

    def score(self, last_day: dt.date, orders: int, net_minor: int) -> tuple[int, int, int]:
        return (
            self.recency[(self.as_of - last_day).days],
            self.frequency[orders],
            1 + sum(1 for start in self.monetary if net_minor >= start),
        )


def rfm_scale(cells: list[tuple[dt.date, int, int, int]], as_of: dt.date, currency: str | None = None) -> RfmScale:
    """R and F scores from the cells; M breakpoints from the buyers themselves (only when ``currency`` is given:
    M is for scoring buyers one by one, not for the segments)."""
    recency: dict[int, int] = defaultdict(int)
    frequency: dict[int, int] = defaultdict(int)
    for last_day, orders, buyers, _ in cells:
        recency[(as_of - last_day).days] += buyers
        frequency[orders] += buyers
    return RfmScale(
        as_of=as_of,
        recency=_scores(recency, better_high=False),
        frequency=_scores(frequency, better_high=True),
        monetary=_monetary_starts(currency, sum(recency.values())) if currency else [],
    )


def _monetary_starts(currency: str, total: int) -> list[int]:
    """For k = 1..4, the smallest net value with at least ⌈k·N/5⌉ buyers below it: the start of M score k + 1.

    A buyer's M score is ``1 + floor(5 × below / N)`` (below: buyers with a smaller net), so it reaches k + 1 exactly
    when ``below >= ⌈k·N/5⌉``; the value there is the first net greater than the buyer at that rank."""
    from analytics.models import Buyer

    starts = []
    buyers = Buyer.objects.filter(currency=currency).order_by("net_minor")
    for k in range(1, 5):
        rank = -(-k * total // 5)  # ⌈k·N/5⌉ buyers must be below
        if rank < 1 or rank >= total:
            continue
        at = buyers.values_list("net_minor", flat=True)[rank - 1]
        above = buyers.filter(net_minor__gt=at).values_list("net_minor", flat=True).first()
        if above is not None:
            starts.append(above)
    return starts


def rfm_report(*, currency: str, as_of: dt.date | None = None) -> RfmReport:
    """Buyers by recency score (days since the last purchase) and frequency score (purchases), each a quintile of
    all buyers, with the buyers and net revenue of each segment."""
    as_of = as_of or timezone.localdate()
    cells = rfm_cells(currency)
    scale = rfm_scale(cells, as_of)
    segments: dict[str, list[int]] = {name: [0, 0] for name, _, _ in SEGMENTS}
    grid: dict[str, int] = defaultdict(int)
    total = 0
    for last_day, orders, buyers, net in cells:
        r, f = scale.recency[(as_of - last_day).days], scale.frequency[orders]
        segment = segments[segment_of(r, f)]
        segment[0] += buyers
        segment[1] += net
        grid[f"R{r}F{f}"] += buyers
        total += buyers
    return RfmReport(
        currency=currency,
        as_of=as_of,
        buyers=total,
        segments=[
            SegmentRow(segment=name, buyers=b, net_minor=n, share=_ratio(b, total)) for name, (b, n) in segments.items()
        ],
        grid=dict(grid),
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class BuyerScore:
    lead: str  # the lead's public id
    email: str
    first_day: dt.date
    last_day: dt.date
    orders: int
    net_minor: int
    recency: int
    frequency: int
    monetary: int
    segment: str


def rfm_buyers(
    *, currency: str, segment: str | None = None, offset: int = 0, limit: int = 100, as_of: dt.date | None = None
) -> tuple[int, list[BuyerScore]]:
    """Buyers with their R, F and M scores (best customers first: most net revenue), optionally of one segment;
    returns (how many match, the page)."""
    from analytics.models import Buyer

    as_of = as_of or timezone.localdate()
    cells = rfm_cells(currency)
    scale = rfm_scale(cells, as_of, currency=currency)
    buyers = Buyer.objects.filter(currency=currency)
    if segment is not None:
        if segment not in {name for name, _, _ in SEGMENTS}:
            raise ApplicationError(
                f"No segment {segment[:40]!r}; segments: {', '.join(name for name, _, _ in SEGMENTS)}.", field="segment"
            )
        matching = [
            (last_day, orders)
            for last_day, orders, _, _ in cells
            if segment_of(scale.recency[(as_of - last_day).days], scale.frequency[orders]) == segment
        ]
        where = Q(pk__in=[])
        for last_day, orders in matching:
            where |= Q(last_day=last_day, orders=orders)
        buyers = buyers.filter(where)
    total = buyers.count()
    page = list(buyers.order_by("-net_minor", "lead_id")[offset : offset + limit])
    leads = dict(Lead.objects.filter(pk__in=[b.lead_id for b in page]).values_list("pk", "public_id"))
    emails = dict(Lead.objects.filter(pk__in=[b.lead_id for b in page]).values_list("pk", "email"))
    rows = []
    for buyer in page:
        r, f, m = scale.score(buyer.last_day, buyer.orders, buyer.net_minor)
        rows.append(
            BuyerScore(
                lead=str(leads.get(buyer.lead_id, "")),
                email=emails.get(buyer.lead_id, ""),
                first_day=buyer.first_day,
                last_day=buyer.last_day,
                orders=buyer.orders,
                net_minor=buyer.net_minor,
                recency=r,
                frequency=f,
                monetary=m,
                segment=segment_of(r, f),
            )
        )
    return total, rows


def report_currencies() -> list[str]:
    """The currencies any order was paid in, the reporting currency first."""
    found = set(OrderDay.objects.values_list("currency", flat=True).distinct())
    primary = settings.REPORTS_CURRENCY
    return [primary, *sorted(found - {primary})]


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
    from funnels.models import Funnel

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
