"""Report ranges and exact distinct visitors over them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Sum
from django.utils import timezone

from analytics.models import (
    DistinctDay,
)
from common.errors import ApplicationError

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
