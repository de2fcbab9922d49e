"""The staff REST API: leads with their timeline, notes, tasks, stage moves and score log; stages; owners.

Signed in by a personal token (or the admin's session), each request needs the model permission its method names,
exactly as in the admin. Lists page by cursor; the lead list filters, searches, sorts, selects fields and streams
as CSV (``?format=csv``: every matching lead, read in chunks, never all at once).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, generics
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api import CsvRenderer, StaffSession
from leads import scoring
from leads.models import Lead, Stage
from leads.pipeline import leads_owner_set
from pipeline import selectors
from pipeline.api.auth import ModelPermission, PersonalToken, StaffThrottle, api_exception_handler
from pipeline.api.csvout import lead_rows
from pipeline.api.filters import LeadFilter, LeadOrdering
from pipeline.api.serializers import (
    ConsentSerializer,
    EventSerializer,
    LeadSerializer,
    NoteSerializer,
    OwnerSerializer,
    StageSerializer,
    TaskSerializer,
)

REFUSED = {
    400: OpenApiResponse(description='{"detail": "...", "fields": {"field": ["message"]}}'),
    401: OpenApiResponse(description="No token or session, or a revoked token."),
    403: OpenApiResponse(description="Your role does not allow this."),
}
ABOUT_A_LEAD = {**REFUSED, 404: OpenApiResponse(description="No such lead (or it was erased).")}


class Cursor(CursorPagination):
    """Pages by cursor (``next`` / ``previous`` links); ``limit`` from 1 to 500, default 50. A bad limit is a 400,
    a damaged cursor a 404."""

    page_size = 50
    max_page_size = 500
    page_size_query_param = "limit"
    ordering = "-created_at"

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param, "")
        if raw == "":
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError({"limit": [f"Enter a whole number from 1 to {self.max_page_size}."]})
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
        return parameters


class _Staff(APIView):
    # A personal token; or the admin's own session (with its CSRF token), as the reports API takes it.
    authentication_classes = [PersonalToken, StaffSession]
    permission_classes = [ModelPermission]
    throttle_classes = [StaffThrottle]
    renderer_classes = [JSONRenderer]
    perms: dict[str, tuple[str, ...]] = {}

    def get_exception_handler(self) -> Any:
        return api_exception_handler


def _lead(public_id: uuid.UUID) -> Lead:
    return get_object_or_404(Lead.objects.select_related("stage", "owner"), public_id=public_id, erased_at=None)


def lead_context(leads: list[Lead]) -> dict[str, Any]:
    """What a page of leads shows besides their own fields, in a few queries for the whole page."""
    net, predicted = selectors.money_by_lead([lead.pk for lead in leads])
    return {
        "now": timezone.now(),
        "half_life": scoring.half_life_days(),
        "fit": selectors.fit_scores(leads),
        "net": net,
        "predicted": predicted,
    }


def _fields(request: Request) -> list[str] | None:
    raw = request.query_params.get("fields", "").strip()
    if not raw:
        return None
    wanted = [f.strip() for f in raw.split(",") if f.strip()]
    unknown = sorted(set(wanted) - set(LeadSerializer.Meta.fields))
    if unknown:
        raise exceptions.ValidationError(
            {"fields": [f"Unknown field {', '.join(unknown)}; choose from {', '.join(LeadSerializer.Meta.fields)}."]}
        )
    return wanted


def _or_empty(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema that also takes an empty value, as a form sends it (meaning: no filter)."""
    return {"oneOf": [schema, {"type": "string", "enum": [""]}]}


_WHOLE = {"type": "integer", "minimum": -(10**12), "maximum": 10**12}
_MOMENT = {"type": "string", "format": "date-time"}
LEAD_PARAMETERS = [
    *(
        OpenApiParameter(name, _or_empty(_MOMENT), description=description)
        for name, description in (
            ("created_after", "Created at or after (ISO 8601)."),
            ("created_before", "Created before (ISO 8601)."),
            ("active_after", "Last activity at or after (ISO 8601)."),
            ("active_before", "Last activity before (ISO 8601)."),
        )
    ),
    *(
        OpenApiParameter(name, _or_empty(_WHOLE), description=description)
        for name, description in (
            ("score_min", "Score now, at least."),
            ("score_max", "Score now, at most."),
            ("value_min", "Net revenue so far, in minor units of currency, at least."),
            ("funnel", "Leads with an event in this funnel (id)."),
            ("stage", "A stage's id."),
        )
    ),
    OpenApiParameter("fields", OpenApiTypes.STR, description="Comma-separated fields to answer, e.g. id,email,score."),
    OpenApiParameter("format", OpenApiTypes.STR, enum=["", "json", "csv"], description="csv: every match, streamed."),
]


class LeadList(_Staff, generics.ListAPIView):
    """Leads, filtered, searched and sorted; a cursor page at a time, or every match as CSV."""

    perms = {"GET": ("leads.view_lead",)}
    serializer_class = LeadSerializer
    pagination_class = Cursor
    filter_backends = [DjangoFilterBackend, LeadOrdering]
    filterset_class = LeadFilter
    renderer_classes = [JSONRenderer, CsvRenderer]

    def get_queryset(self) -> QuerySet[Lead]:
        return (
            Lead.objects.filter(erased_at__isnull=True).select_related("stage", "owner").prefetch_related("tags")
        )  # no DISTINCT: the one tag filter joins at most one row per lead, and DISTINCT would defeat every index

    @extend_schema(
        parameters=LEAD_PARAMETERS,
        responses={
            200: LeadSerializer(many=True),
            **REFUSED,
            404: OpenApiResponse(description="An unknown format (json or csv)."),
        },
        examples=[
            OpenApiExample("Hot leads of mine", value=None, description="?owner=me&score_min=50&ordering=-score")
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        only = _fields(request)
        queryset = self.filter_queryset(self.get_queryset())
        if request.accepted_renderer.format == "csv":
            response = StreamingHttpResponse(lead_rows(queryset), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="leads.csv"'
            return response
        page = self.paginate_queryset(queryset)
        rows = list(page if page is not None else queryset[:50])
        data = LeadSerializer(rows, many=True, only=only, context=lead_context(rows)).data
        return self.get_paginated_response(data)


class LeadDetail(_Staff):
    """One lead with its timeline (latest 100 events), orders, consents, open tasks and notes; PATCH its owner."""

    perms = {"GET": ("leads.view_lead",), "PATCH": ("leads.change_lead",)}

    @extend_schema(responses={200: LeadSerializer, **ABOUT_A_LEAD})
    def get(self, request: Request, public_id: uuid.UUID) -> Response:
        lead = _lead(public_id)
        data = dict(LeadSerializer(lead, context=lead_context([lead])).data)
        data["timeline"] = EventSerializer(lead.events.order_by("-occurred_at", "-id")[:100], many=True).data
        data["consents"] = ConsentSerializer(lead.consents.all()[:100], many=True).data
        data["notes"] = NoteSerializer(lead.notes.select_related("author")[:100], many=True).data
        data["tasks"] = TaskSerializer(lead.tasks.filter(done_at__isnull=True).select_related("lead"), many=True).data
        data["orders"] = [
            {
                "id": str(order.public_id),
                "status": order.status,
                "currency": order.currency,
                "total_minor": order.total_minor,
                "refunded_minor": order.refunded_minor,
                "created_at": order.created_at,
                "lines": [line.description for line in order.lines.all()],
            }
            for order in lead.orders.prefetch_related("lines").order_by("-created_at")[:50]
        ]
        return Response(data)

    @extend_schema(request=LeadSerializer, responses={200: LeadSerializer, **ABOUT_A_LEAD})
    def patch(self, request: Request, public_id: uuid.UUID) -> Response:
        lead = _lead(public_id)
        unknown = sorted(set(request.data) - {"owner"})
        if unknown:
            raise exceptions.ValidationError(
                {name: ["Only owner is changed here; stages move by stage-moves."] for name in unknown}
            )
        serializer = LeadSerializer(lead, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "owner" in serializer.validated_data:
            owner = serializer.validated_data["owner"]
            leads_owner_set(leads=Lead.objects.filter(pk=lead.pk), owner_id=owner.pk if owner else None)
        lead = _lead(public_id)
        return Response(LeadSerializer(lead, context=lead_context([lead])).data)


@extend_schema_view(get=extend_schema(responses={200: StageSerializer(many=True), **REFUSED}))
class Stages(_Staff, generics.ListAPIView):
    """The pipeline's stages, in order."""

    perms = {"GET": ("leads.view_stage",)}
    serializer_class = StageSerializer
    pagination_class = None
    queryset = Stage.objects.order_by("position")


class Owners(_Staff):
    """The people leads can be given to (active staff)."""

    perms = {"GET": ("leads.view_lead",)}

    @extend_schema(responses={200: OwnerSerializer(many=True), **REFUSED})
    def get(self, request: Request) -> Response:
        return Response([{"id": pk, "name": name} for pk, name in selectors.owners()])
