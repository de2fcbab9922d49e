from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from common.admin import ReadOnlyAdminMixin, csv_export
from common.forms import SecretFieldForm
from common.money import format_money
from leads import scoring, selectors
from leads.forms import LeadForm
from leads.models import (
    Consent,
    ConversionDelivery,
    ConversionDestination,
    Event,
    Lead,
    Note,
    ScoreEvent,
    Stage,
    Tag,
    Task,
    Touch,
)
from leads.pipeline import leads_owner_set, leads_stage_move, leads_tag, note_add, task_add, task_change
from leads.services import leads_mark_changed


class FunnelFilter(admin.SimpleListFilter):
    title = "funnel"
    parameter_name = "funnel"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        # The event log stores funnel ids; the names come from the funnels app without importing it.
        funnel_model = apps.get_model("funnels", "Funnel")
        return [(str(pk), name) for pk, name in funnel_model.objects.values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        if not self.value():
            return queryset
        try:
            funnel_id = int(self.value() or "")
        except ValueError:
            return queryset.none()
        return queryset.filter(Exists(Event.objects.filter(lead=OuterRef("pk"), funnel_id=funnel_id)))


class _ConsentFilter(admin.SimpleListFilter):
    purpose: str
    annotation: str

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("granted", "Granted"), ("withdrawn", "Withdrawn"), ("none", "Never asked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        value = self.value()
        if value in ("granted", "withdrawn"):
            return queryset.filter(**{self.annotation: value})
        if value == "none":
            return queryset.filter(**{f"{self.annotation}__isnull": True})
        return queryset


class AdConsentFilter(_ConsentFilter):
    title = "ad-audience consent"
    parameter_name = "ad_consent"
    annotation = "ad_consent"


class EmailConsentFilter(_ConsentFilter):
    title = "marketing e-mail consent"
    parameter_name = "email_consent"
    annotation = "email_consent"


class CountryFilter(admin.SimpleListFilter):
    title = "country"
    parameter_name = "country"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(code, code) for code in selectors.lead_countries()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        return queryset.filter(country=self.value()) if self.value() else queryset


class CreatedRangeFilter(admin.FieldListFilter):
    """Created between two dates (inclusive), typed into two date boxes."""

    template = "admin/leads/date_range_filter.html"

    def __init__(self, field: Any, request: HttpRequest, params: Any, model: Any, model_admin: Any, field_path: str):
        self.parameter_since = f"{field_path}__since"
        self.parameter_until = f"{field_path}__until"
        self.errors: list[str] = []
        super().__init__(field, request, params, model, model_admin, field_path)
        # The base class moves our parameters from ``params`` into ``used_parameters``.
        self.since = self._date(self.used_parameters.get(self.parameter_since), "From")
        self.until = self._date(self.used_parameters.get(self.parameter_until), "To")
        self.title = "created"

    def _date(self, raw: Any, label: str) -> dt.date | None:
        value = raw[-1] if isinstance(raw, list) else raw
        if not value:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.errors.append(f"{label}: {value!r} is not a date (YYYY-MM-DD); ignored.")
            return None

    def expected_parameters(self) -> list[str | None]:
        return [self.parameter_since, self.parameter_until]

    def has_output(self) -> bool:
        return True

    def choices(self, changelist: Any) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        # One "choice" carrying the form's state; the template draws the two date boxes from it.
        yield (
            {
                "since": self.since.isoformat() if self.since else "",
                "until": self.until.isoformat() if self.until else "",
                "parameter_since": self.parameter_since,
                "parameter_until": self.parameter_until,
                "errors": self.errors,
                "clear_url": changelist.get_query_string(remove=[self.parameter_since, self.parameter_until]),
                "other_params": [
                    (key, value)
                    for key, value in changelist.get_filters_params().items()
                    if key not in (self.parameter_since, self.parameter_until)
                ],
            }
        )

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        zone = timezone.get_current_timezone()
        if self.since:
            queryset = queryset.filter(
                **{f"{self.field_path}__gte": dt.datetime.combine(self.since, dt.time.min, tzinfo=zone)}
            )
        if self.until:
            end = dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
            queryset = queryset.filter(**{f"{self.field_path}__lt": end})
        return queryset


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


class PipelineActionForm(helpers.ActionForm):
    """What the bulk actions apply to the selected leads (or every lead the filters match: "select all")."""

    stage = forms.ModelChoiceField(Stage.objects.all(), required=False, empty_label="stage…")
    owner = forms.ModelChoiceField(
        get_user_model().objects.filter(is_staff=True, is_active=True), required=False, empty_label="owner…"
    )
    tag = forms.ModelChoiceField(Tag.objects.all(), required=False, empty_label="tag…")


class TaskInline(admin.TabularInline):
    """The lead's tasks: add one, or tick one done."""

    model = Task
    extra = 1
    fields = ["kind", "title", "due_at", "assignee", "done_at"]
    fk_name = "lead"
    verbose_name_plural = "Tasks"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ScoreAdjustInline(admin.TabularInline):
    """A person's score entry: points and why, added to the log (the log is never edited)."""

    model = ScoreEvent
    extra = 1
    fields = ["points", "reason"]
    can_delete = False
    verbose_name = "score adjustment"
    verbose_name_plural = "Adjust the score"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ScoreEvent]:
        return super().get_queryset(request).none()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        leads_mark_changed(lead_ids=[form.instance.pk])  # tags, stage, score, consents: audiences may change

    form = LeadForm
    list_display = ["email", "full_name", "country", "stage", "owner", "score_now", "ad_consent_badge", "created_at"]
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
        (None, {"fields": ["email", "phone", ("first_name", "last_name")]}),
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

    def _chosen(self, request: HttpRequest, field: str) -> Any:
        try:  # only this field: the form's "action" choices are filled in by the changelist, not here
            value = PipelineActionForm().fields[field].clean(request.POST.get(field) or None)
        except forms.ValidationError:
            value = None
        if value is None:
            self.message_user(request, f"Choose the {field} next to the action first.", messages.ERROR)
        return value

    @admin.action(description="Move to the chosen stage", permissions=["change"])
    def move_to_stage(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        stage = self._chosen(request, "stage")
        if stage is not None:
            moved = leads_stage_move(leads=queryset, to_stage=stage, by_id=request.user.pk, reason="bulk move")
            self.message_user(request, f"{moved} lead{'s' if moved != 1 else ''} moved to {stage}.")

    @admin.action(description="Give to the chosen owner", permissions=["change"])
    def give_to_owner(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        owner = self._chosen(request, "owner")
        if owner is not None:
            changed = leads_owner_set(leads=queryset, owner_id=owner.pk)
            self.message_user(request, f"{changed} lead{'s' if changed != 1 else ''} given to {owner}.")

    @admin.action(description="Add the chosen tag", permissions=["change"])
    def add_tag(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        tag = self._chosen(request, "tag")
        if tag is not None:
            self.message_user(request, f"Tagged {leads_tag(leads=queryset, tag_id=tag.pk, add=True)} leads {tag}.")

    @admin.action(description="Remove the chosen tag", permissions=["change"])
    def remove_tag(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        tag = self._chosen(request, "tag")
        if tag is not None:
            count = leads_tag(leads=queryset, tag_id=tag.pk, add=False)
            self.message_user(request, f"Took the tag {tag} from {count} leads.")

    def save_model(self, request: HttpRequest, obj: Lead, form: Any, change: bool) -> None:
        """A stage change is a move, recorded in the stage history like every other."""
        wanted = obj.stage
        if not change or "stage" in form.changed_data:  # saved as it was; the move below changes it
            obj.stage_id = form.initial.get("stage") if change else None
        super().save_model(request, obj, form, change)
        if (wanted.pk if wanted else None) != obj.stage_id:
            leads_stage_move(
                leads=Lead.objects.filter(pk=obj.pk), to_stage=wanted, by_id=request.user.pk, reason="in the admin"
            )
            obj.stage = wanted

    @admin.display(description="Score", ordering="-score_base")
    def score_now(self, obj: Lead) -> int:
        return scoring.score_at(obj.score_base, timezone.now(), self._half_life())

    def _half_life(self) -> int | None:
        if not hasattr(self, "_half_life_cache"):
            self._half_life_cache = scoring.half_life_days()
        return self._half_life_cache

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        self.__dict__.pop("_half_life_cache", None)  # read the setting once per page
        return super().changelist_view(request, extra_context)

    @admin.display(description="Engagement score and the entries behind it")
    def score_log(self, obj: Lead) -> SafeString:
        if obj.pk is None:
            return format_html("<em>{}</em>", "No score yet.")
        now, half_life = timezone.now(), scoring.half_life_days()
        entries = list(obj.score_events.order_by("-occurred_at", "-id")[:100])
        fade = f"points halve every {half_life} days" if half_life else "points never fade"
        head = format_html(
            "<p><strong>{}</strong> now ({}; the sum of the {} entries below as they are worth today).</p>",
            scoring.score_at(obj.score_base, now, half_life),
            fade,
            obj.score_events.count(),
        )
        if not entries:
            return format_html("{}<em>{}</em>", head, "No score entries yet.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{e.occurred_at:%Y-%m-%d %H:%M}",
                    f"{e.points:+d}",
                    f"{scoring.decayed(e.points, e.occurred_at, now, half_life):+.1f}",
                    e.reason,
                )
                for e in entries
            ),
        )
        return format_html(
            "{}<table><thead><tr><th>When</th><th>Points</th><th>Worth today</th><th>Why</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            head,
            rows,
        )

    @admin.display(description="Stage history")
    def stage_history(self, obj: Lead) -> SafeString:
        moves = list(obj.stage_moves.select_related("from_stage", "to_stage", "moved_by")[:50]) if obj.pk else []
        if not moves:
            return format_html("<em>{}</em>", "No stage moves yet.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{m.occurred_at:%Y-%m-%d %H:%M}",
                    m.from_stage or "—",
                    m.to_stage or "—",
                    "rule" if m.automatic else (m.moved_by or "—"),
                    m.reason,
                )
                for m in moves
            ),
        )
        return format_html(
            '<table class="stage-history"><thead><tr><th>When</th><th>From</th><th>To</th><th>By</th><th>Why</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            rows,
        )

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


class ConversionDestinationForm(SecretFieldForm):
    class Meta:
        model = ConversionDestination
        fields = [
            "name",
            "platform",
            "remote_id",
            "account_id",
            "login_customer_id",
            "credentials",
            "test_event_code",
            "send_leads",
            "send_purchases",
            "is_active",
        ]


@admin.register(ConversionDestination)
class ConversionDestinationAdmin(admin.ModelAdmin):
    """Where opt-ins and purchases are reported server-side, with what became of the last week's conversions."""

    form = ConversionDestinationForm
    list_display = ["name", "platform", "remote_id", "is_active", "week"]
    list_filter = ["platform", "is_active"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ConversionDestination]:
        since = timezone.now() - dt.timedelta(days=7)
        counts = {
            status: Count("deliveries", filter=Q(deliveries__status=status, deliveries__created_at__gte=since))
            for status in ConversionDelivery.Status.values
        }
        return super().get_queryset(request).annotate(**counts)

    @admin.display(description="Last 7 days")
    def week(self, obj: Any) -> SafeString:
        parts = [(status, getattr(obj, status, 0)) for status in ConversionDelivery.Status.values]
        shown = [(f"conversion-{status}", f"{count} {status}") for status, count in parts if count]
        if not shown:
            return format_html("<span>{}</span>", "nothing yet")
        return format_html_join(" · ", '<span class="{}">{}</span>', shown)


@admin.register(ConversionDelivery)
class ConversionDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Each conversion to each destination: sent with the platform's reference, dropped or failed with why."""

    list_display = ["event", "destination", "status", "attempts", "reason", "reference", "created_at", "finished_at"]
    list_filter = ["status", "destination"]
    list_select_related = ["event", "destination"]
    exclude = ["client"]
