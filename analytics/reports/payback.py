"""Payback by monthly acquisition cohort: how many months the buyers a platform's spend acquired in a month took to
bring back, in net revenue, what was spent that month.

For each calendar month of the range and each platform (meta, google, other for hand-entered costs): the spend of the
month (converted as the campaign report converts it), the buyers acquired that month whose touch a campaign of that
platform claims (the campaign report's matching over the whole range), and those buyers' cumulative net revenue at the
end of the month and of each month after it, up to the current one. **Payback** is the first month offset (0 = the
acquisition month) at which the cumulative net reaches the spend; none while it has not.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from analytics.models import Buyer, LeadFact, OrderFact
from analytics.reports.ranges import Period
from analytics.reports.roi import roi_report
from spend.models import CampaignDay, OtherCost


@dataclass(kw_only=True, slots=True)
class PaybackRow:
    platform: str
    month: str  # YYYY-MM
    spend_minor: int
    new_buyers: int
    cumulative_net_minor: list[int] = field(default_factory=list)  # at the end of month 0, 1, …
    payback_months: int | None = None


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _months_between(first: dt.date, later: dt.date) -> int:
    return (later.year - first.year) * 12 + later.month - first.month


def payback_report(*, period: Period, currency: str, touch: str = "first") -> list[PaybackRow]:
    report = roi_report(period=period, currency=currency, touch=touch)
    platform_of: dict[tuple[str, str], str] = {}
    for row in report.rows:
        if row.platform:
            for claimed in row.touches:
                source, _, campaign = claimed.partition(" / ")
                platform_of[(source, "" if campaign == "(no campaign)" else campaign)] = row.platform
    spend = _monthly_spend(period, currency)
    facts = {
        f.lead_id: (getattr(f, f"{touch}_source"), getattr(f, f"{touch}_campaign"))
        for f in LeadFact.objects.filter(
            lead_id__in=Buyer.objects.filter(
                currency=currency, first_day__gte=period.since, first_day__lt=period.until
            ).values("lead_id")
        )
    }
    cohort: dict[int, tuple[str, dt.date]] = {}
    for lead_id, first_day in Buyer.objects.filter(
        currency=currency, first_day__gte=period.since, first_day__lt=period.until
    ).values_list("lead_id", "first_day"):
        platform = platform_of.get(facts.get(lead_id, ("", "")))
        if platform:
            cohort[lead_id] = (platform, _month(first_day))
    today = _month(timezone.localdate())
    net: dict[tuple[str, dt.date], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for order in OrderFact.objects.filter(lead_id__in=list(cohort), currency=currency).values(
        "lead_id", "day", "gross_minor", "refunds_minor"
    ):
        platform, month = cohort[order["lead_id"]]
        offset = _months_between(month, _month(order["day"]))
        if offset >= 0:
            net[(platform, month)][offset] += order["gross_minor"] - order["refunds_minor"]
    buyers: dict[tuple[str, dt.date], int] = defaultdict(int)
    for key in cohort.values():
        buyers[key] += 1
    rows = []
    for platform, month in sorted(set(spend) | set(buyers), key=lambda k: (k[1], k[0])):
        running, cumulative = 0, []
        for offset in range(_months_between(month, today) + 1):
            running += net[(platform, month)].get(offset, 0)
            cumulative.append(running)
        spent = spend.get((platform, month), 0)
        payback = next((k for k, total in enumerate(cumulative) if spent and total >= spent), None)
        rows.append(
            PaybackRow(
                platform=platform,
                month=f"{month:%Y-%m}",
                spend_minor=spent,
                new_buyers=buyers.get((platform, month), 0),
                cumulative_net_minor=cumulative,
                payback_months=payback,
            )
        )
    return rows


def _monthly_spend(period: Period, currency: str) -> dict[tuple[str, dt.date], int]:
    """Spend per (platform, month) in ``currency``; spend in another currency is left out (the campaign report
    shows it with its note)."""
    found: dict[tuple[str, dt.date], int] = defaultdict(int)
    days = CampaignDay.objects.filter(day__gte=period.since, day__lt=period.until, currency=currency)
    for row in days.values("account__platform", "day").annotate(spend=Sum("spend_minor")):
        found[(row["account__platform"], _month(row["day"]))] += row["spend"]
    costs = OtherCost.objects.filter(day__gte=period.since, day__lt=period.until, currency=currency)
    for row in costs.values("day").annotate(spend=Sum("amount_minor")):
        found[("other", _month(row["day"]))] += row["spend"]
    return found


def as_dicts(rows: list[PaybackRow]) -> list[dict[str, Any]]:
    return [asdict(row) for row in rows]
