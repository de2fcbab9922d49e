"""The lead page's pipeline parts: tasks, score adjustments and the score log, the stage history, moves recorded
as moves, and the bulk actions of the lead list."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from leads import scoring
from leads.models import (
    Lead,
    ScoreEvent,
    Stage,
    Tag,
    Task,
)
from leads.pipeline import leads_owner_set, leads_stage_move, leads_tag


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


class LeadPipelineAdmin(admin.ModelAdmin):
    """The pipeline half of LeadAdmin."""

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
