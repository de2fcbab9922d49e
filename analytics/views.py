"""The reports in the admin: one page with the funnels' numbers for a period against the one before, a revenue
chart drawn as SVG on the server, and each table downloadable as CSV through the reports API."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.safestring import mark_safe

from analytics import reports
from analytics.charts import bars_svg
from common.errors import ApplicationError
from common.money import format_money
from funnels.diagram import funnel_svg
from funnels.models import Funnel, Step, Variant
from funnels.selectors import funnel_graph
from leads.models import Lead


@permission_required("analytics.view_report", raise_exception=True)
def dashboard(request: HttpRequest) -> HttpResponse:
    periods = reports.standard_periods()
    period, choice, error = _period_from(request)
    funnels = list(Funnel.objects.order_by("name"))
    funnel_reports = [reports.funnel_report(funnel=funnel, period=period) for funnel in funnels]
    currency = reports.report_currencies()[0]
    revenue = reports.revenue_per_day(period=period, currency=currency)
    leads = reports.leads_per_day(period=period)
    channels = reports.channels_report(period=period)
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
        "leads_chart": bars_svg([(str(d), n) for d, n in leads], label="New leads per day", currency="", count=True),
        "now": reports.overview(period=period, currency=currency),
        "before": reports.overview(period=period.previous(), currency=currency),
        "cohorts": reports.cohorts_report(
            period=reports.Period(period.until - dt.timedelta(days=365), period.until), currency=currency
        ),
        "offers": reports.offers_report(period=period),
        "channel_tables": [
            (touch, [row for row in channels if row.touch == touch][:20]) for touch in ("first", "last")
        ],
        "rfm": reports.rfm_report(currency=currency),
        "spend": reports.roi_report(period=period, currency=currency).totals,
    }
    return render(request, "analytics/dashboard.html", context)


@permission_required("analytics.view_report", raise_exception=True)
def lifetime_value_page(request: HttpRequest) -> HttpResponse:
    """Lifetime value by cohort, channel, campaign and first offer, the fit behind it, and the most valuable buyers."""
    currencies = reports.report_currencies()
    currency = request.GET.get("currency", currencies[0]).upper()
    if currency not in currencies:
        currency = currencies[0]
    tables = [
        (grouping, title, reports.lifetime_value_report(currency=currency, by=grouping))
        for grouping, title in (
            ("cohort", "first-purchase month"),
            ("channel", "first-touch channel"),
            ("campaign", "first-touch campaign"),
            ("first_offer", "first offer bought"),
        )
    ]
    _, top = reports.buyers_by_value(currency=currency, limit=20)
    ids = dict(Lead.objects.filter(public_id__in=[row.lead for row in top]).values_list("public_id", "pk"))
    cohorts = tables[0][2]
    context = {
        **admin.site.each_context(request),
        "title": "Lifetime value",
        "currency": currency,
        "currencies": currencies,
        "fit": cohorts.fit,
        "horizon": cohorts.fit.horizon_months if cohorts.fit else settings.CLV_HORIZON_MONTHS,
        "tables": tables,
        "chart": bars_svg(
            [(row.group, row.clv_per_buyer_minor) for row in cohorts.rows],
            label="Lifetime value per buyer (net so far + predicted) by first-purchase month",
            currency=currency,
        ),
        "top": [
            {
                "row": row,
                "link": reverse("admin:leads_lead_change", args=[ids[uuid.UUID(row.lead)]])
                if row.lead and uuid.UUID(row.lead) in ids
                else "",
            }
            for row in top
        ],
        "can_edit_rates": request.user.has_perm("analytics.view_exchangerate"),
    }
    return render(request, "analytics/lifetime_value.html", context)


@permission_required("analytics.view_report", raise_exception=True)
def roi_page(request: HttpRequest) -> HttpResponse:
    """What each campaign cost and returned, first- or last-touch, with the spend nobody's revenue matched and the
    revenue no spend matched shown as such."""
    period, choice, error = _period_from(request)
    currencies = reports.report_currencies()
    currency = request.GET.get("currency", currencies[0]).upper()
    if currency not in currencies:
        currency = currencies[0]
    touch = request.GET.get("touch", "first")
    if touch not in reports.TOUCHES:
        touch = "first"
    report = reports.roi_report(period=period, currency=currency, touch=touch)
    paid = [row for row in report.rows if row.platform]
    context = {
        **admin.site.each_context(request),
        "title": "Campaigns: spend and return",
        "period": period,
        "periods": reports.standard_periods(),
        "choice": choice,
        "error": error,
        "currency": currency,
        "currencies": currencies,
        "touch": touch,
        "touches": reports.TOUCHES,
        "report": report,
        "paid": paid,
        "unpaid": [row for row in report.rows if not row.platform],
        "chart": bars_svg(
            [(row.campaign or row.campaign_id, row.net_minor) for row in paid if row.spend_converted_minor][:20],
            label=f"Net revenue by campaign ({touch} touch)",
            currency=currency,
        ),
        "payback": reports.payback_report(
            period=reports.Period(period.until - dt.timedelta(days=365), period.until), currency=currency, touch=touch
        ),
        "can_add_accounts": request.user.has_perm("spend.add_adaccount"),
        "keep": {"touch": touch, "currency": currency},  # the period links and form keep the page's choices
    }
    return render(request, "analytics/roi.html", context)


def _period_from(request: HttpRequest) -> tuple[reports.Period, str, str]:
    """The page's period: a standard one by name, or since/until; a bad range falls back with its message."""
    periods = reports.standard_periods()
    choice = request.GET.get("period", "last_30_days")
    try:
        if request.GET.get("since") or request.GET.get("until"):
            return reports.period_parse(request.GET.get("since"), request.GET.get("until")), "custom", ""
    except ApplicationError as refused:
        return periods["last_30_days"], "last_30_days", refused.message
    return periods.get(choice) or periods["last_30_days"], choice, ""


def _step_figures(report: reports.FunnelReport) -> dict[int, str]:
    """The line under each box of the diagram: visitors, conversion rate, and net revenue where there is some."""
    ids = dict(Step.objects.filter(funnel__slug=report.funnel).values_list("slug", "pk"))
    figures = {}
    for row in report.steps:
        parts = [f"{row.visitors:,} visitors"]
        if row.rate is not None and row.kind != Step.Kind.THANK_YOU:
            parts.append(f"{row.rate * 100:.1f} %")
        if row.gross_minor:
            parts.append(format_money(row.net_minor, report.currency))
        figures[ids[row.step]] = " · ".join(parts)
    return figures


@permission_required("analytics.view_report", raise_exception=True)
def funnel_page(request: HttpRequest, slug: str) -> HttpResponse:
    funnel = get_object_or_404(Funnel, slug=slug)
    period, choice, error = _period_from(request)
    report = reports.funnel_report(funnel=funnel, period=period)
    split_steps = [
        step for step in reports.steps_in_order(funnel) if Variant.objects.filter(step=step, weight__gt=0).count() >= 2
    ]
    context = {
        **admin.site.each_context(request),
        "title": f"{funnel.name}: report",
        "funnel": funnel,
        "period": period,
        "periods": reports.standard_periods(),
        "choice": choice,
        "error": error,
        "report": report,
        "diagram": mark_safe(  # noqa: S308  # funnel_svg escapes every name and figure it draws
            funnel_svg(funnel_graph(funnel=funnel), figures=_step_figures(report))
        ),
        "split_tests": [reports.split_test_report(step=step, period=period) for step in split_steps],
    }
    return render(request, "analytics/funnel.html", context)
