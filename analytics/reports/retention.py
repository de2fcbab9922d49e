"""Lists and retention: leads and revenue per day, cohorts, RFM."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from analytics.models import (
    CohortCell,
    OrderDay,
    RfmCell,
)
from analytics.reports.ranges import (
    Period,
    _ratio,
)
from common.errors import ApplicationError
from leads.models import Lead

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
