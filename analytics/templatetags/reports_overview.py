"""The admin index's overview for marketers: the last 30 days against the 30 before, and net revenue per day."""

from __future__ import annotations

from typing import Any

from django import template

from analytics import reports
from analytics.charts import bars_svg

register = template.Library()


@register.inclusion_tag("analytics/overview.html")
def reports_overview() -> dict[str, Any]:
    period = reports.standard_periods()["last_30_days"]
    currency = reports.report_currencies()[0]
    revenue = reports.revenue_per_day(period=period, currency=currency)
    return {
        "period": period,
        "currency": currency,
        "now": reports.overview(period=period, currency=currency),
        "before": reports.overview(period=period.previous(), currency=currency),
        "chart": bars_svg([(str(d), net) for d, _, net in revenue], label="Net revenue per day", currency=currency),
    }
