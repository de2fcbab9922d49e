"""The reports API: read-only, for signed-in staff holding ``analytics.view_report`` (marketers and admins).

Each endpoint takes ``since`` and ``until`` (YYYY-MM-DD, ``until`` not included; default: the last 30 days) and
answers JSON, or CSV with ``?format=csv``. Bad input is a 400 naming the field.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from django.http import HttpResponse
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from analytics import reports
from common.errors import ApplicationError
from common.money import CURRENCY_EXPONENT
from funnels.models import Funnel, Step

# What every report answers besides its figures.
REFUSED = {
    400: OpenApiResponse(description="Field errors: {field: [messages]} (a bad range, an unknown grouping)."),
    401: OpenApiResponse(description="Not signed in to the admin."),
    403: OpenApiResponse(description="Signed in without the permission to view reports."),
    404: OpenApiResponse(description="No such funnel or step."),
}


class StaffSession(SessionAuthentication):
    """The admin's session; a request without one is told so (401), not refused (403)."""

    def authenticate_header(self, request: Request) -> str:
        return 'Session realm="ladder-admin"'


class StaffSessionScheme(SessionScheme):
    """The schema names the admin session (cookie) as the reports' authentication."""

    target_class = "analytics.api.StaffSession"


class CanViewReports(BasePermission):
    message = "Reports are for marketers and admins (the analytics.view_report permission)."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.has_perm("analytics.view_report"))


class CsvRenderer(BaseRenderer):
    """Lets ``?format=csv`` through content negotiation; the views write the CSV themselves."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return json.dumps(data, default=str).encode()  # only reached for an error answered as JSON-in-CSV


class ReportThrottle(UserRateThrottle):
    rate = "120/min"


def _choice(values: Iterable[str]) -> dict[str, Any]:
    """A query parameter taking one of ``values``; empty, as a form sends it, means the default."""
    return {"type": "string", "enum": ["", *values]}


# Query parameters as the reports read them: an empty value is the same as leaving the parameter out.
CURRENCY = _choice(sorted(CURRENCY_EXPONENT))
FORMAT = _choice(["json", "csv"])
DATE_OR_BLANK = {"type": "string", "pattern": r"^(\d{4}-\d{2}-\d{2})?$", "example": "2026-01-31"}
UUID_OR_BLANK = {
    "type": "string",
    "pattern": r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$",
}
LIMIT = {"type": "integer", "minimum": 1, "maximum": 500}
OFFSET = {"type": "integer", "minimum": 0, "maximum": 10_000_000}
RANGE = [
    OpenApiParameter(
        "since",
        DATE_OR_BLANK,
        description="First day (YYYY-MM-DD, the server's time zone). A report covers at most 3 years.",
        allow_blank=True,
    ),
    OpenApiParameter("until", DATE_OR_BLANK, description="The day after the last (not included).", allow_blank=True),
    OpenApiParameter("format", FORMAT, description="csv: the report's table as CSV."),
]


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


def dataclass_csv(filename: str, rows: Sequence[Any]) -> HttpResponse:
    dicts = [asdict(row) for row in rows]
    header = list(dicts[0]) if dicts else []
    return csv_response(filename, header, ([d[name] for name in header] for d in dicts))


class _ReportApi(APIView):
    authentication_classes = [StaffSession]
    permission_classes = [IsAuthenticated, CanViewReports]
    throttle_classes = [ReportThrottle]
    renderer_classes = [JSONRenderer, CsvRenderer]

    def period(self, request: Request) -> reports.Period:
        try:
            return reports.period_parse(request.query_params.get("since"), request.query_params.get("until"))
        except ApplicationError as refused:
            raise exceptions.ValidationError({refused.field or "since": [refused.message]}) from None

    @staticmethod
    def wants_csv(request: Request) -> bool:
        return request.query_params.get("format") == "csv"

    @staticmethod
    def touch(request: Request) -> str:
        touch = request.query_params.get("touch") or "first"
        if touch not in reports.TOUCHES:
            raise exceptions.ValidationError({"touch": [f"touch must be first or last, not {touch[:20]!r}."]})
        return touch

    @staticmethod
    def currency(request: Request) -> str:
        currency = (request.query_params.get("currency") or reports.report_currencies()[0]).upper()
        if currency not in CURRENCY_EXPONENT:
            raise exceptions.ValidationError({"currency": [f"{currency[:10]!r} is not an ISO 4217 currency code."]})
        return currency


# The campaign reports' parameters: a range, a currency and the attribution model.
ATTRIBUTED = [
    *RANGE,
    OpenApiParameter("currency", CURRENCY, description="ISO 4217 code; default: the reporting currency."),
    OpenApiParameter("touch", _choice(reports.TOUCHES), description="Attribution: first (default) or last touch."),
]


def _funnel(slug: str) -> Funnel:
    funnel = Funnel.objects.filter(slug=slug).first()
    if funnel is None:
        raise exceptions.NotFound(f"No funnel with slug {slug[:100]!r}.")
    return funnel


class FunnelReportApi(_ReportApi):
    @extend_schema(parameters=RANGE, responses={200: OpenApiTypes.OBJECT, **REFUSED}, summary="A funnel's report")
    def get(self, request: Request, slug: str) -> Response | HttpResponse:
        report = reports.funnel_report(funnel=_funnel(slug), period=self.period(request))
        if self.wants_csv(request):
            return dataclass_csv(f"{slug}-{report.since}-{report.until}", report.steps)
        return Response(report.as_dict())


class SplitTestReportApi(_ReportApi):
    @extend_schema(
        parameters=RANGE, responses={200: OpenApiTypes.OBJECT, **REFUSED}, summary="A split-tested step's results"
    )
    def get(self, request: Request, slug: str, step: str) -> Response | HttpResponse:
        found = Step.objects.filter(funnel=_funnel(slug), slug=step).select_related("funnel").first()
        if found is None:
            raise exceptions.NotFound(f"The funnel has no step {step[:100]!r}.")
        report = reports.split_test_report(step=found, period=self.period(request))
        if self.wants_csv(request):
            return dataclass_csv(f"{slug}-{step}-split-test", report.variants)
        return Response(report.as_dict())


class OffersReportApi(_ReportApi):
    @extend_schema(
        parameters=RANGE, responses={200: OpenApiTypes.OBJECT, **REFUSED}, summary="Offers: buyers, units, money"
    )
    def get(self, request: Request) -> Response | HttpResponse:
        period = self.period(request)
        rows = reports.offers_report(period=period)
        if self.wants_csv(request):
            return dataclass_csv(f"offers-{period.since}-{period.until}", rows)
        return Response({"since": period.since, "until": period.until, "offers": [asdict(r) for r in rows]})


class CampaignsReportApi(_ReportApi):
    @extend_schema(parameters=RANGE, responses={200: OpenApiTypes.OBJECT, **REFUSED}, summary="Channels and campaigns")
    def get(self, request: Request) -> Response | HttpResponse:
        period = self.period(request)
        rows = reports.channels_report(period=period)
        if self.wants_csv(request):
            return dataclass_csv(f"campaigns-{period.since}-{period.until}", rows)
        return Response({"since": period.since, "until": period.until, "campaigns": [asdict(r) for r in rows]})


class RoiReportApi(_ReportApi):
    @extend_schema(
        parameters=ATTRIBUTED,
        responses={200: OpenApiTypes.OBJECT, **REFUSED},
        summary="Campaigns: spend, leads, buyers, net revenue, ROAS, ROI, CAC and LTV:CAC",
    )
    def get(self, request: Request) -> Response | HttpResponse:
        period, currency = self.period(request), self.currency(request)
        report = reports.roi_report(period=period, currency=currency, touch=self.touch(request))
        if self.wants_csv(request):
            return dataclass_csv(f"roi-{report.touch}-{currency}-{period.since}-{period.until}", report.rows)
        return Response(report.as_dict())


class PaybackReportApi(_ReportApi):
    @extend_schema(
        parameters=ATTRIBUTED,
        responses={200: OpenApiTypes.OBJECT, **REFUSED},
        summary="Payback by month of acquisition and platform",
    )
    def get(self, request: Request) -> Response | HttpResponse:
        period, currency, touch = self.period(request), self.currency(request), self.touch(request)
        rows = reports.payback_report(period=period, currency=currency, touch=touch)
        if self.wants_csv(request):
            return dataclass_csv(f"payback-{touch}-{currency}-{period.since}-{period.until}", rows)
        return Response({"since": period.since, "until": period.until, "currency": currency, "touch": touch,
                         "cohorts": [asdict(r) for r in rows]})  # fmt: skip


class CohortsReportApi(_ReportApi):
    @extend_schema(parameters=RANGE, responses={200: OpenApiTypes.OBJECT, **REFUSED}, summary="Monthly buyer cohorts")
    def get(self, request: Request) -> Response | HttpResponse:
        period, currency = self.period(request), self.currency(request)
        rows = reports.cohorts_report(period=period, currency=currency)
        if self.wants_csv(request):
            width = max((len(r.retention) for r in rows), default=0)
            return csv_response(
                f"cohorts-{currency}",
                ["cohort", "buyers", "net_minor", *(f"month_{k}" for k in range(width))],
                ([r.cohort, r.buyers, r.net_minor, *r.retention] for r in rows),
            )
        return Response({"currency": currency, "cohorts": [asdict(r) for r in rows]})


class RfmReportApi(_ReportApi):
    @extend_schema(
        parameters=[
            OpenApiParameter("currency", CURRENCY, description="ISO 4217 code; default: the reporting currency."),
            OpenApiParameter("format", FORMAT, description="csv: the table as CSV."),
        ],
        responses={200: OpenApiTypes.OBJECT, **REFUSED},
        summary="RFM segments of buyers",
    )
    def get(self, request: Request) -> Response | HttpResponse:
        report = reports.rfm_report(currency=self.currency(request))
        if self.wants_csv(request):
            return dataclass_csv(f"rfm-{report.currency}", report.segments)
        return Response(report.as_dict())


class RfmBuyersApi(_ReportApi):
    @extend_schema(
        parameters=[
            OpenApiParameter("currency", CURRENCY, description="ISO 4217 code; default: the reporting currency."),
            OpenApiParameter(
                "segment",
                _choice(name for name, _, _ in reports.SEGMENTS),
                description="Only this segment.",
            ),
            OpenApiParameter("offset", OFFSET, description="Skip this many buyers (default 0)."),
            OpenApiParameter("limit", LIMIT, description="At most this many buyers (default 100)."),
            OpenApiParameter("format", FORMAT, description="csv: the table as CSV."),
        ],
        responses={200: OpenApiTypes.OBJECT, **REFUSED},
        summary="Buyers with their RFM scores, best first",
    )
    def get(self, request: Request) -> Response | HttpResponse:
        currency = self.currency(request)
        offset, limit = _whole(request, "offset", 0, 0, 10_000_000), _whole(request, "limit", 100, 1, 500)
        try:
            total, rows = reports.rfm_buyers(
                currency=currency, segment=request.query_params.get("segment") or None, offset=offset, limit=limit
            )
        except ApplicationError as refused:
            raise exceptions.ValidationError({refused.field or "segment": [refused.message]}) from None
        if self.wants_csv(request):
            return dataclass_csv(f"rfm-buyers-{currency}", rows)
        return Response({"currency": currency, "count": total, "offset": offset, "buyers": [asdict(r) for r in rows]})


class LifetimeValueReportApi(_ReportApi):
    @extend_schema(
        parameters=[
            OpenApiParameter("currency", CURRENCY, description="ISO 4217 code; default: the reporting currency."),
            OpenApiParameter("by", _choice(reports.GROUPINGS), description="How buyers are grouped."),
            OpenApiParameter("format", FORMAT, description="csv: the table as CSV."),
        ],
        responses={200: OpenApiTypes.OBJECT, **REFUSED},
        summary="Lifetime value per buyer: net so far plus predicted, by cohort, channel, campaign or first offer",
    )
    def get(self, request: Request) -> Response | HttpResponse:
        currency = self.currency(request)
        try:
            report = reports.lifetime_value_report(currency=currency, by=request.query_params.get("by") or "cohort")
        except ApplicationError as refused:
            raise exceptions.ValidationError({refused.field or "by": [refused.message]}) from None
        if self.wants_csv(request):
            return dataclass_csv(f"lifetime-value-{report.by}-{currency}", report.rows)
        return Response(report.as_dict())


class BuyersByValueApi(_ReportApi):
    @extend_schema(
        parameters=[
            OpenApiParameter("currency", CURRENCY, description="ISO 4217 code; default: the reporting currency."),
            OpenApiParameter("order", _choice(reports.ORDERINGS), description="Default: predicted value."),
            OpenApiParameter("lead", UUID_OR_BLANK, description="Only this lead (its public id)."),
            OpenApiParameter("offset", OFFSET, description="Skip this many buyers (default 0)."),
            OpenApiParameter("limit", LIMIT, description="At most this many buyers (default 100)."),
            OpenApiParameter("format", FORMAT, description="csv: the table as CSV."),
        ],
        responses={200: OpenApiTypes.OBJECT, **REFUSED},
        summary="Buyers with their history, p(alive), expected purchases and predicted value",
    )
    def get(self, request: Request) -> Response | HttpResponse:
        currency = self.currency(request)
        offset, limit = _whole(request, "offset", 0, 0, 10_000_000), _whole(request, "limit", 100, 1, 500)
        try:
            total, rows = reports.buyers_by_value(
                currency=currency,
                order=request.query_params.get("order") or "predicted",
                lead=request.query_params.get("lead") or None,
                offset=offset,
                limit=limit,
            )
        except ApplicationError as refused:
            raise exceptions.ValidationError({refused.field or "order": [refused.message]}) from None
        if self.wants_csv(request):
            return dataclass_csv(f"buyers-by-value-{currency}", rows)
        return Response({"currency": currency, "count": total, "offset": offset, "buyers": [asdict(r) for r in rows]})


def _whole(request: Request, name: str, default: int, low: int, high: int) -> int:
    if name not in request.query_params:
        return default
    raw = request.query_params.get(name) or ""
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise exceptions.ValidationError({name: [f"{name} must be a whole number from {low} to {high}."]})
    return int(raw)
