from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from common.admin import ReadOnlyAdminMixin, csv_export
from common.tasks import enqueue_on_commit
from leads.models import ScoringSettings
from pipeline import tasks
from pipeline.models import (
    ApiToken,
    AssignmentRule,
    FitRule,
    HookDelivery,
    LeadWebhook,
    PipelineSettings,
    ScoreRule,
    StageRule,
)
from pipeline.tokens import token_make, token_revoke


class _Single(admin.ModelAdmin):
    """A one-row settings model: no adding a second, no deleting."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ScoreRule)
class ScoreRuleAdmin(admin.ModelAdmin):
    list_display = ["reason", "points", "kind", "event_type", "role", "inactive_days", "once_per_lead", "is_active"]
    list_filter = ["kind", "event_type", "is_active"]
    list_editable = ["is_active"]
    actions = ["rebuild"]
    fieldsets = [
        (None, {"fields": ["reason", "points", "kind", "is_active"]}),
        ("Which events", {"fields": ["event_type", "event_name", "funnel", "step", "offer", "role", "once_per_lead"]}),
        ("Inactivity", {"fields": ["inactive_days"]}),
    ]

    def save_model(self, request: HttpRequest, obj: ScoreRule, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        messages.info(
            request,
            "New events follow the rule from now on. To apply it to past events as well, choose "
            '"Rebuild every score" (or run python manage.py scores_rebuild).',
        )

    @admin.action(description="Rebuild every score from the event log with the current rules", permissions=["change"])
    def rebuild(self, request: HttpRequest, queryset: QuerySet[ScoreRule]) -> None:
        enqueue_on_commit(tasks.scores_rebuild)
        self.message_user(request, "Rebuilding every score in the background; lead pages show the result shortly.")


@admin.register(FitRule)
class FitRuleAdmin(admin.ModelAdmin):
    list_display = ["field", "value", "points"]
    list_filter = ["field"]


@admin.register(StageRule)
class StageRuleAdmin(admin.ModelAdmin):
    list_display = ["__str__", "trigger", "role", "stage", "is_active"]
    list_editable = ["is_active"]


@admin.register(PipelineSettings)
class PipelineSettingsAdmin(_Single):
    list_display = ["__str__", "manual_wins_days", "hot_score", "round_robin", "daily_digest"]


@admin.register(AssignmentRule)
class AssignmentRuleAdmin(admin.ModelAdmin):
    list_display = ["__str__", "position", "country", "funnel", "owner"]
    list_editable = ["position"]


class ScoringSettingsForm(forms.ModelForm):
    class Meta:
        model = ScoringSettings
        fields = ["half_life_days"]


@admin.register(ScoringSettings)
class ScoringSettingsAdmin(_Single):
    form = ScoringSettingsForm
    list_display = ["__str__"]

    def save_model(self, request: HttpRequest, obj: ScoringSettings, form: Any, change: bool) -> None:
        """A new half-life re-weighs the whole log: saved by the job that re-weighs it, in one transaction."""
        if "half_life_days" in form.changed_data:
            enqueue_on_commit(tasks.scores_reweigh, half_life=obj.half_life_days)
            self.message_user(request, "Re-weighing every score entry with the new half-life in the background.")
            return
        super().save_model(request, obj, form, change)


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "name"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Personal API tokens. Each person sees and makes their own (an admin: anyone's); the secret is shown once."""

    form = ApiTokenForm
    list_display = ["name", "prefix", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    actions = ["revoke"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        tokens = super().get_queryset(request).select_related("user")
        return tokens if request.user.is_superuser else tokens.filter(user=request.user)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        if not request.user.is_superuser and "user" in form.base_fields:
            field = form.base_fields["user"]
            field.queryset = field.queryset.filter(pk=request.user.pk)  # type: ignore[attr-defined]
            field.initial = request.user.pk
        return form

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a token is made or revoked, never edited

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        user = form.cleaned_data["user"]
        if not request.user.is_superuser and user != request.user:
            raise PermissionDenied
        made = token_make(user_id=user.pk, name=form.cleaned_data["name"])
        obj.pk = made.token.pk
        messages.warning(
            request,
            f"The token, shown only now (copy it; Ladder keeps only its hash): {made.secret}",
        )

    @admin.action(description="Revoke the selected tokens", permissions=["delete"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset.filter(revoked_at__isnull=True):
            token_revoke(token=token)
        self.message_user(request, "Revoked: requests with those tokens are refused from now on.")


class LeadWebhookForm(forms.ModelForm):
    """The signing secret is write-only: never shown again, and left blank it stays as it is."""

    signing_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="At least 16 characters; the receiver checks Ladder-Signature with it. Blank keeps the stored one.",
    )

    class Meta:
        model = LeadWebhook
        fields = ["name", "url", "on_stage_change", "on_hot", "include_contact", "is_active"]

    def clean_signing_secret(self) -> str:
        given: str = self.cleaned_data.get("signing_secret", "").strip()
        if given and len(given) < 16:
            raise forms.ValidationError("Give a signing secret of at least 16 characters.")
        if not given and not self.instance.secret:
            raise forms.ValidationError("Give the signing secret the receiver checks.")
        return given

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("signing_secret"):
            self.instance.secret = cleaned["signing_secret"]
        return cleaned


@admin.register(LeadWebhook)
class LeadWebhookAdmin(admin.ModelAdmin):
    form = LeadWebhookForm
    list_display = ["name", "url", "on_stage_change", "on_hot", "include_contact", "is_active", "waiting", "failed"]
    list_filter = ["is_active"]

    @admin.display(description="Waiting")
    def waiting(self, obj: LeadWebhook) -> int:
        return obj.deliveries.filter(status=HookDelivery.Status.PENDING).count()

    @admin.display(description="Failed")
    def failed(self, obj: LeadWebhook) -> int:
        return obj.deliveries.filter(status=HookDelivery.Status.FAILED).count()


@admin.register(HookDelivery)
class HookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["kind", "webhook", "lead", "status", "attempts", "occurred_at", "sent_at", "reason"]
    list_filter = ["status", "kind", "webhook"]
    list_select_related = ["webhook", "lead"]
    raw_id_fields = ["lead"]
    actions = [
        csv_export(["kind", "webhook", "status", "attempts", "occurred_at", "sent_at", "reason"], "hook-deliveries")
    ]
