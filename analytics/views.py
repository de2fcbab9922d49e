"""The reports in the admin: one page with the funnels' numbers for a period against the one before, a revenue
chart drawn as SVG on the server, and each table downloadable as CSV through the reports API."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from analytics import reports
from common.errors import ApplicationError
from common.money import format_money
from funnels.models import Funnel


def bars_svg(values: list[tuple[str, int]], *, label: str, currency: str, height: int = 140) -> SafeString:
    """A bar chart (one bar a day) as inline SVG: it scales to its box, so it reads at 1280 px and on a phone."""
    width = max(len(values), 1) * 10
    top = max((v for _, v in values), default=0) or 1
    bars = "".join(
        format_html(
            '<rect x="{}" y="{}" width="8" height="{}" fill="#2b6cb0"><title>{}: {}</title></rect>',
            index * 10 + 1,
            height - round(value * (height - 10) / top),
            round(value * (height - 10) / top),
            day,
            format_money(value, currency),
        )
        for index, (day, value) in enumerate(values)
    )
    return format_html(
        '<svg viewBox="0 0 {} {}" preserveAspectRatio="none" role="img" aria-label="{}" '
        'style="width:100%;height:{}px;background:#f7fafc">{}</svg>',
        width,
        height,
        label,
        height,
        mark_safe(bars),  # noqa: S308  # each bar was escaped by format_html above
    )


@permission_required("analytics.view_report", raise_exception=True)
def dashboard(request: HttpRequest) -> HttpResponse:
    periods = reports.standard_periods()
    choice = request.GET.get("period", "last_30_days")
    error = ""
    try:
        if request.GET.get("since") or request.GET.get("until"):
            period = reports.period_parse(request.GET.get("since"), request.GET.get("until"))
            choice = "custom"
        else:
            period = periods.get(choice) or periods["last_30_days"]
    except ApplicationError as refused:
        error, period = refused.message, periods["last_30_days"]
    funnels = list(Funnel.objects.order_by("name"))
    funnel_reports = [reports.funnel_report(funnel=funnel, period=period) for funnel in funnels]
    currency = reports.report_currencies()[0]
    revenue = reports.revenue_per_day(period=period, currency=currency)
    leads = reports.leads_per_day(period=period)
    context = {
        **admin.site.each_context(request),
        "title": "Reports",
        "period": period,
        "periods": periods,
        "choice": choice,
        "error": error,
        "funnel_reports": funnel_reports,
        "currency": currency,
        "revenue_chart": bars_svg(
            [(str(d), net) for d, _, net in revenue], label="Net revenue per day", currency=currency
        ),
        "leads_total": sum(n for _, n in leads),
        "offers": reports.offers_report(period=period),
        "channels": [row for row in reports.channels_report(period=period) if row.touch == "first"][:20],
        "rfm": reports.rfm_report(currency=currency),
    }
    return render(request, "analytics/dashboard.html", context)
