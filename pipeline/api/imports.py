"""List imports over the staff API: upload a CSV with the list's consent statement (and, if known, the mapping),
see the first rows as they would be imported, start it, follow its progress, download the skipped rows.

``POST /api/v1/leads/import`` makes the import (``start=true`` queues it at once); ``POST …/imports/{id}/start``
queues a draft, optionally with a corrected mapping. The work is done by a worker, a chunk at a time.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.api import CsvRenderer
from common.admin import csv_stream
from common.errors import ApplicationError
from leads import imports
from leads.imports import FIELDS, Basis, ImportInvalid
from leads.models import Consent, LeadImport
from pipeline.api.views import REFUSED, _Staff

NO_IMPORT = {**REFUSED, 404: OpenApiResponse(description="No such import.")}


class MappingField(serializers.JSONField):
    """Column name → lead field, as a JSON object (in a multipart form: its text)."""

    def to_internal_value(self, data: Any) -> dict[str, str]:
        value = super().to_internal_value(data)
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise serializers.ValidationError('Give a JSON object of column name → lead field, e.g. {"Mail": "email"}.')
        return value


class ImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV, UTF-8, with a header row.")
    name = serializers.CharField(max_length=100)
    purposes = serializers.ListField(child=serializers.ChoiceField(choices=Consent.Purpose.values), min_length=1)
    wording = serializers.CharField(max_length=5000, help_text="What the people on the list agreed to, as shown.")
    legal_basis = serializers.ChoiceField(choices=Consent.LegalBasis.values, default=Consent.LegalBasis.CONSENT)
    assume_eea = serializers.BooleanField(default=True)
    default_country = serializers.CharField(max_length=2, required=False, allow_blank=True, default="")
    tag = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    mapping = MappingField(required=False, help_text=f"Column → one of {', '.join(n for n in FIELDS if n)}, or ''.")
    start = serializers.BooleanField(default=False, help_text="Queue it at once rather than make a draft.")


class ImportStartSerializer(serializers.Serializer):
    mapping = MappingField(required=False)


class ImportSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    tag = serializers.CharField(source="tag.name", default=None, read_only=True)
    problems_url = serializers.SerializerMethodField(help_text="The skipped rows with their reasons, as CSV.")

    class Meta:
        model = LeadImport
        fields = [
            "id",
            "name",
            "status",
            "reason",
            "columns",
            "mapping",
            "purposes",
            "wording",
            "legal_basis",
            "assume_eea",
            "default_country",
            "tag",
            "rows_total",
            "rows_done",
            "created",
            "merged",
            "repeated",
            "invalid",
            "refused",
            "created_at",
            "started_at",
            "finished_at",
            "problems_url",
        ]
        read_only_fields = fields

    def get_problems_url(self, obj: LeadImport) -> str:
        return reverse("api-lead-import-problems", args=[obj.public_id])


def _answer(lead_import: LeadImport, code: int) -> Response:
    data = dict(ImportSerializer(lead_import).data)
    if lead_import.status == LeadImport.Status.DRAFT:
        data["preview"] = [
            {
                "line": row.line,
                "email": row.email,
                "details": {**row.details, **({"signed_up_at": row.signed_up_at} if row.signed_up_at else {})},
                "tags": row.tags,
                "problems": dict(row.problems),
            }
            for row in imports.import_preview(lead_import=lead_import)
        ]
    return Response(data, status=code)


def _refused(invalid: ImportInvalid) -> exceptions.ValidationError:
    return exceptions.ValidationError(invalid.errors)


class LeadImportCreate(_Staff):
    """Import a list: the file, what everyone on it agreed to, and optionally the mapping (else guessed)."""

    perms = {"POST": ("leads.add_leadimport",)}
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": ImportCreateSerializer},
        responses={201: ImportSerializer, 202: ImportSerializer, **REFUSED},
        examples=[
            OpenApiExample(
                "A newsletter list, started at once",
                request_only=True,
                value={
                    "name": "Newsletter 2025",
                    "purposes": ["marketing_email", "ad_audiences"],
                    "wording": "Send me the newsletter and show me relevant ads.",
                    "legal_basis": "consent",
                    "mapping": '{"Mail": "email", "Name": "full_name"}',
                    "start": True,
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        given = ImportCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        try:
            lead_import = imports.import_create(
                name=data["name"],
                upload=data["file"].file,
                filename=data["file"].name,
                basis=Basis(
                    purposes=tuple(data["purposes"]),
                    wording=data["wording"],
                    legal_basis=data["legal_basis"],
                    assume_eea=data["assume_eea"],
                ),
                default_country=data["default_country"],
                tag_name=data["tag"],
                mapping=data.get("mapping"),
                created_by_id=request.user.pk,
            )
            if data["start"]:
                imports.import_start(lead_import=lead_import)
        except ImportInvalid as invalid:
            raise _refused(invalid) from None
        code = status.HTTP_202_ACCEPTED if data["start"] else status.HTTP_201_CREATED
        return _answer(lead_import, code)


def _import(public_id: uuid.UUID) -> LeadImport:
    return get_object_or_404(LeadImport.objects.select_related("tag"), public_id=public_id)


class LeadImportList(_Staff):
    """The latest imports, newest first (at most 100)."""

    perms = {"GET": ("leads.view_leadimport",)}

    @extend_schema(responses={200: ImportSerializer(many=True), **REFUSED})
    def get(self, request: Request) -> Response:
        return Response(ImportSerializer(LeadImport.objects.select_related("tag")[:100], many=True).data)


class LeadImportDetail(_Staff):
    """One import: its mapping, progress and counts (and, while a draft, the first rows as they would import)."""

    perms = {"GET": ("leads.view_leadimport",)}

    @extend_schema(responses={200: ImportSerializer, **NO_IMPORT})
    def get(self, request: Request, public_id: uuid.UUID) -> Response:
        return _answer(_import(public_id), status.HTTP_200_OK)


class LeadImportStart(_Staff):
    """Queue a draft, with a corrected mapping if given. 409 once it has started."""

    perms = {"POST": ("leads.add_leadimport",)}
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        request=ImportStartSerializer,
        responses={202: ImportSerializer, **NO_IMPORT, 409: OpenApiResponse(description="It has started already.")},
    )
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        lead_import = _import(public_id)
        given = ImportStartSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        if lead_import.status != LeadImport.Status.DRAFT:
            return Response({"detail": "This import has started already.", "fields": {}}, status=409)
        try:
            if "mapping" in given.validated_data:
                imports.import_map(lead_import=lead_import, mapping=given.validated_data["mapping"])
            imports.import_start(lead_import=lead_import)
        except ImportInvalid as invalid:
            raise _refused(invalid) from None
        except ApplicationError as error:
            raise exceptions.ValidationError({error.field or "mapping": [str(error)]}) from None
        return _answer(lead_import, status.HTTP_202_ACCEPTED)


class LeadImportProblems(_Staff):
    """The skipped rows as the file has them, each with its line and reasons: CSV, streamed."""

    perms = {"GET": ("leads.view_leadimport",)}
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        responses={(200, "text/csv"): OpenApiResponse(description="line, problems, the file's columns"), **NO_IMPORT}
    )
    def get(self, request: Request, public_id: uuid.UUID) -> Any:
        lead_import = _import(public_id)
        return csv_stream(imports.problems_csv(lead_import), f"import-{lead_import.pk}-problems")
