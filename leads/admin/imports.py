"""List imports in the admin: upload a CSV with the list's consent statement, map its columns against a preview, then
watch the progress bar; the rows that could not be imported download as CSV beside their reasons."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from common.admin import csv_stream
from common.errors import ApplicationError
from leads import imports
from leads.imports import FIELDS, Basis, ImportInvalid
from leads.models import Consent, LeadImport

PREVIEW_FIELDS = [name for name in FIELDS if name and name not in ("full_name",)]


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        help_text=f"CSV (UTF-8; comma, semicolon or tab separated) with a header row; up to "
        f"{imports.MAX_BYTES // (1024 * 1024)} MB and {imports.MAX_ROWS:,} rows."
    )
    name = forms.CharField(max_length=100, help_text="What the list is, e.g. “Newsletter subscribers 2025”.")
    purposes = forms.MultipleChoiceField(
        choices=Consent.Purpose.choices,
        widget=forms.CheckboxSelectMultiple,
        label="Everyone on the list agreed to",
        help_text="Recorded as a consent of each person, with this import as where it was given.",
    )
    wording = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        label="In these words",
        help_text="What the people on the list were shown when they signed up.",
    )
    legal_basis = forms.ChoiceField(
        choices=Consent.LegalBasis.choices,
        initial=Consent.LegalBasis.CONSENT,
        help_text="Under EEA/UK rules only consent itself allows ad audiences; other bases cover e-mail only there.",
    )
    assume_eea = forms.BooleanField(
        required=False, initial=True, label="People without a country fall under EEA/UK rules"
    )
    default_country = forms.CharField(
        max_length=2, required=False, help_text="For phone numbers written without +country code, e.g. US."
    )
    tag = forms.CharField(
        max_length=50, required=False, help_text="Given to every imported lead, to find them or build an audience."
    )


def _mapping_form(lead_import: LeadImport, data: Any = None) -> forms.Form:
    form = forms.Form(data)
    for index, column in enumerate(lead_import.columns):
        form.fields[f"column_{index}"] = forms.ChoiceField(
            choices=list(FIELDS.items()), required=False, label=column, initial=lead_import.mapping.get(column, "")
        )
    return form


def _mapping_of(lead_import: LeadImport, form: forms.Form) -> dict[str, str]:
    return {column: form.cleaned_data.get(f"column_{index}") or "" for index, column in enumerate(lead_import.columns)}


class LeadImportAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "progress", "created", "merged", "repeated", "invalid", "refused", "created_at"]
    list_filter = ["status"]
    search_fields = ["name"]
    list_display_links = ["name"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # an import is a record; the import page maps and starts a draft (add permission)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("add/", view(self.upload_view), name="leads_leadimport_add"),
            path("<int:pk>/change/", view(self.import_view), name="leads_leadimport_change"),
            path("<int:pk>/problems.csv", view(self.problems_view), name="leads_leadimport_problems"),
            *super().get_urls(),
        ]

    @admin.display(description="Progress")
    def progress(self, obj: LeadImport) -> str:
        return format_html(
            '<progress value="{}" max="{}"></progress> {}/{}',
            obj.rows_done,
            max(obj.rows_total, 1),
            f"{obj.rows_done:,}",
            f"{obj.rows_total:,}",
        )

    def _page(self, request: HttpRequest, template: str, status: int = 200, **context: Any) -> HttpResponse:
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, **context}
        return render(request, f"admin/leads/leadimport/{template}", context, status=status)

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        """Step one: the file and the list's consent statement; makes a draft and opens its mapping."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            upload = data["file"]
            try:
                lead_import = imports.import_create(
                    name=data["name"],
                    upload=upload.file,
                    filename=upload.name,
                    basis=Basis(
                        purposes=tuple(data["purposes"]),
                        wording=data["wording"],
                        legal_basis=data["legal_basis"],
                        assume_eea=data["assume_eea"],
                    ),
                    default_country=data["default_country"],
                    tag_name=data["tag"],
                    created_by_id=request.user.pk,
                )
            except ImportInvalid as invalid:
                for name, messages in invalid.errors.items():
                    for message in messages:
                        form.add_error(name if name in form.fields else None, message)
            else:
                return redirect("admin:leads_leadimport_change", lead_import.pk)
        status = 400 if request.method == "POST" else 200
        return self._page(request, "upload.html", status, title="Import a list", form=form)

    def import_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Step two for a draft (mapping with a preview, then start); afterwards its progress and outcome."""
        lead_import = LeadImport.objects.filter(pk=pk).select_related("tag", "created_by").first()
        if lead_import is None:
            raise Http404("There is no such import.")
        if not self.has_view_permission(request, lead_import):
            raise PermissionDenied
        draft = lead_import.status == LeadImport.Status.DRAFT
        form = _mapping_form(lead_import, request.POST if request.method == "POST" else None)
        problems: list[str] = []
        if request.method == "POST":
            if not (draft and self.has_add_permission(request)):
                raise PermissionDenied
            if form.is_valid():
                try:
                    imports.import_map(lead_import=lead_import, mapping=_mapping_of(lead_import, form))
                    if "start" in request.POST:
                        imports.import_start(lead_import=lead_import)
                        return redirect("admin:leads_leadimport_change", lead_import.pk)
                except ImportInvalid as invalid:
                    problems = [message for messages in invalid.errors.values() for message in messages]
                except ApplicationError as error:
                    problems = [str(error)]
        preview = imports.import_preview(lead_import=lead_import) if draft and lead_import.file else []
        return self._page(
            request,
            "import.html",
            400 if problems else 200,
            title=f"Import: {lead_import.name}",
            lead_import=lead_import,
            draft=draft,
            running=lead_import.status in (LeadImport.Status.QUEUED, LeadImport.Status.RUNNING),
            percent=100 * lead_import.rows_done // max(lead_import.rows_total, 1),
            form=form,
            problems=problems,
            preview_fields=PREVIEW_FIELDS,
            preview=[_preview_row(row) for row in preview],
            problems_url=reverse("admin:leads_leadimport_problems", args=[lead_import.pk]),
            leads_url=reverse("admin:leads_lead_changelist")
            + (f"?tags__id__exact={lead_import.tag_id}" if lead_import.tag_id else ""),
            skipped=lead_import.invalid + lead_import.refused,
        )

    def problems_view(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        """The rows that were not imported, as the file has them, with their line and reasons; streamed."""
        lead_import = LeadImport.objects.filter(pk=pk).first()
        if lead_import is None:
            raise Http404("There is no such import.")
        if not self.has_view_permission(request, lead_import):
            raise PermissionDenied
        return csv_stream(imports.problems_csv(lead_import), f"import-{lead_import.pk}-problems")


def _preview_row(row: imports.Row) -> dict[str, Any]:
    values = {"email": row.email, **row.details, "tags": ", ".join(row.tags)}
    if row.signed_up_at:
        values["signed_up_at"] = row.signed_up_at.date().isoformat()
    return {
        "line": row.line,
        "cells": [values.get(name, "") for name in PREVIEW_FIELDS],
        "problems": "; ".join(f"{field} {message}" for field, message in row.problems),
    }
