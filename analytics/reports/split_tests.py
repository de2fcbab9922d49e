"""Split tests: each variant against the control on net revenue per visitor."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from analytics.models import (
    Kind,
)
from analytics.reports.ranges import (
    Period,
    _ratio,
    distinct_visitors,
)
from analytics.stats import Sample, compare, holm, sample_ratio_p
from common.money import format_money
from funnels.models import Step, Variant

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
