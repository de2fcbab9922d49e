from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from common.admin import ReadOnlyAdminMixin, csv_export
from common.money import format_money
from leads import scoring, selectors
from leads.admin.filters import AdConsentFilter, CountryFilter, CreatedRangeFilter, EmailConsentFilter, FunnelFilter
from leads.admin.pipeline import LeadPipelineAdmin, PipelineActionForm, ScoreAdjustInline, TaskInline
from leads.forms import LeadForm
from leads.marks import leads_mark_changed
from leads.models import (
    Consent,
    Event,
    Lead,
    LeadImport,
    Note,
    ScoreEvent,
    Stage,
    Tag,
    Task,
    Touch,
    UndeliverableAddress,
)
from leads.pipeline import note_add, task_add, task_change
from leads.services import consents_record


class TouchInline(admin.StackedInline):
    model = Touch
    extra = 0
    can_delete = False
    fields = readonly_fields = tuple(f.name for f in Touch._meta.fields if f.name not in ("id", "lead"))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ConsentInline(admin.TabularInline):
    model = Consent
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "purpose",
        "status",
        "wording",
        "source",
        "legal_basis",
        "eea",
        "occurred_at",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # consent is recorded through the consent page or the funnel, never edited in place


class NoteInline(admin.TabularInline):
    """A new note. Notes are append-only: what someone wrote, and who and when, is never rewritten afterwards."""

    model = Note
    extra = 1
    fields = ["body"]
    can_delete = False
    verbose_name = "new note"
    verbose_name_plural = "Add a note"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Note]:
        return super().get_queryset(request).none()

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        kwargs["widgets"] = {"body": forms.Textarea(attrs={"rows": 2, "cols": 80})}
        return super().get_formset(request, obj, **kwargs)


class NoteHistoryInline(admin.TabularInline):
    """The notes written so far, read-only."""

    model = Note
    extra = 0
    fields = ("body", "author", "created_at")
    readonly_fields = ("body", "author", "created_at")
    verbose_name_plural = "Notes"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Lead)
class LeadAdmin(LeadPipelineAdmin):
    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        leads_mark_changed(lead_ids=[form.instance.pk])  # tags, stage, score, consents: audiences may change

    form = LeadForm
    list_display = ["email", "full_name", "country", "stage", "owner", "score_now", "ad_consent_badge", "created_at"]
    # Each role sees the columns it works with, so the list fits a 1280-pixel screen; the rest are filters and on
    # the lead's page. (The reports app adds value columns to this list.)
    ROLE_HIDDEN = {
        "sales": {"country", "ad_consent_badge", "created_at", "net_value"},
        "marketer": {"country", "owner", "activity", "net_value"},
    }

    def get_list_display(self, request: HttpRequest) -> Any:
        columns = list(super().get_list_display(request))
        groups = set(request.user.groups.values_list("name", flat=True)) if request.user.is_authenticated else set()
        hidden = set().union(*(self.ROLE_HIDDEN[role] for role in groups if role in self.ROLE_HIDDEN))
        return [column for column in columns if column not in hidden]

    list_filter = [
        "stage",
        FunnelFilter,
        AdConsentFilter,
        EmailConsentFilter,
        CountryFilter,
        "tags",
        ("created_at", CreatedRangeFilter),
        "owner",
    ]
    search_fields = ["email", "first_name", "last_name", "phone", "postal_code"]
    list_select_related = ["stage", "owner"]
    list_per_page = 50
    show_full_result_count = False
    autocomplete_fields = ["tags"]
    readonly_fields = (
        "public_id",
        "created_at",
        "updated_at",
        "erased_at",
        "orders_summary",
        "timeline",
        "score_log",
        "stage_history",
        "last_activity_at",
    )
    fieldsets = [
        (None, {"fields": ["email", "phone", ("first_name", "last_name"), "company_size"]}),
        ("Location", {"fields": [("country", "region"), ("city", "postal_code")]}),
        ("Pipeline", {"fields": [("stage", "owner", "last_activity_at"), "tags", "stage_history"]}),
        ("Score", {"fields": ["score_log"]}),
        ("Orders", {"fields": ["orders_summary"]}),
        ("Timeline", {"fields": ["timeline"]}),
        ("Record", {"fields": ["public_id", ("created_at", "updated_at", "erased_at")], "classes": ["collapse"]}),
    ]
    inlines = [TaskInline, ScoreAdjustInline, NoteInline, NoteHistoryInline, ConsentInline, TouchInline]
    action_form = PipelineActionForm
    actions = [
        "move_to_stage",
        "give_to_owner",
        "add_tag",
        "remove_tag",
        csv_export(
            ["email", "first_name", "last_name", "phone", "country", "stage", "owner", "last_activity_at"],
            "leads",
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Lead]:
        return selectors.leads_with_consent(super().get_queryset(request))

    @admin.display(description="Ad consent", ordering="ad_consent")
    def ad_consent_badge(self, obj: Lead) -> SafeString:
        status = getattr(obj, "ad_consent", None)
        colour = {"granted": "#15803d", "withdrawn": "#b91c1c"}.get(status or "", "#64748b")
        return format_html('<span style="color:{}">{}</span>', colour, status or "not asked")

    @admin.display(description="Orders")
    def orders_summary(self, obj: Lead) -> SafeString:
        if obj.pk is None:
            return format_html("<em>{}</em>", "No orders yet.")
        orders = list(obj.orders.prefetch_related("lines").order_by("-created_at")[:50])
        if not orders:
            return format_html("<em>{}</em>", "No orders yet.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{order.created_at:%Y-%m-%d %H:%M}",
                    ", ".join(line.description for line in order.lines.all()),
                    order.get_status_display(),
                    format_money(order.total_minor, order.currency),
                    format_money(order.total_minor - order.refunded_minor, order.currency),
                )
                for order in orders
            ),
        )
        return format_html(
            "<table><thead><tr><th>Placed</th><th>Items</th><th>Status</th><th>Total</th><th>Net of refunds</th>"
            "</tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="Event timeline (latest 200)")
    def timeline(self, obj: Lead) -> SafeString:
        events = selectors.lead_timeline(lead=obj) if obj.pk else []
        if not events:
            return format_html("<em>{}</em>", "No events recorded for this lead yet.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{event.occurred_at:%Y-%m-%d %H:%M:%S}",
                    event.name or event.get_type_display(),
                    ", ".join(f"{key}={value}" for key, value in sorted(event.properties.items())[:6]),
                )
                for event in events
            ),
        )
        return format_html(
            "<table><thead><tr><th>When</th><th>What</th><th>Details</th></tr></thead><tbody>{}</tbody></table>", rows
        )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is Note:
            for note in formset.save(commit=False):
                if note.pk is None:  # only new notes come through: the history is read-only
                    note_add(lead=form.instance, author_id=request.user.pk, body=note.body)
            return
        if formset.model is ScoreEvent:
            entries = [
                scoring.ScoreEntry(
                    lead_id=form.instance.pk,
                    points=entry.points,
                    reason=entry.reason,
                    occurred_at=timezone.now(),
                    key=f"manual:{uuid.uuid4()}",
                    author_id=request.user.pk,
                )
                for entry in formset.save(commit=False)
                if entry.pk is None
            ]
            scoring.score_events_record(entries=entries)
            return
        if formset.model is Task:
            formset.save(commit=False)
            for task in formset.new_objects:
                task_add(
                    lead=form.instance,
                    title=task.title,
                    due_at=task.due_at,
                    kind=task.kind,
                    assignee_id=task.assignee_id,
                    created_by_id=request.user.pk,
                )
            for task, fields in formset.changed_objects:
                task_change(task=task, fields=fields)
            return
        super().save_formset(request, form, formset, change)


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "win_probability", "is_closed", "stale_after_days"]
    list_editable = ["position", "win_probability", "is_closed", "stale_after_days"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The event log is append-only: nobody adds, edits or deletes rows here."""

    list_display = ["occurred_at", "type", "name", "lead", "funnel_id", "offer_id", "order_id"]
    list_filter = ["type"]
    date_hierarchy = "occurred_at"
    search_fields = ["lead__email", "idempotency_key"]
    list_select_related = ["lead"]
    show_full_result_count = False
    readonly_fields = tuple(f.name for f in Event._meta.fields)


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    """Consent records are append-only evidence: they can be added (e.g. a withdrawal by phone), never edited."""

    list_display = ["lead", "purpose", "status", "source", "legal_basis", "eea", "occurred_at"]
    list_filter = ["purpose", "status", "legal_basis", "eea"]
    search_fields = ["lead__email"]
    raw_id_fields = ["lead"]
    list_select_related = ["lead"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Consent, form: Any, change: bool) -> None:
        consents_record(consents=[obj])  # only ever added (no change permission); the audiences are told


from leads.admin.imports import LeadImportAdmin  # noqa: E402

admin.site.register(LeadImport, LeadImportAdmin)


@admin.register(UndeliverableAddress)
class UndeliverableAddressAdmin(admin.ModelAdmin):
    """Addresses the mail provider reported; deleting one lets mail go to it again."""

    list_display = ["reason", "provider", "reported_at", "email_sha256"]
    list_filter = ["reason", "provider"]
    search_fields = ["email_sha256"]
    readonly_fields = ["email_sha256", "reason", "provider", "reported_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
