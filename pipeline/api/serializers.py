"""What the staff API reads and writes. Leads are named by their public id (a UUID), never by row number."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework import serializers

from leads import scoring
from leads.models import Consent, Event, Lead, Note, ScoreEvent, Stage, StageMove, Task


class Money(serializers.Serializer):
    currency = serializers.CharField()
    amount_minor = serializers.IntegerField()


class LeadSerializer(serializers.ModelSerializer):
    """A lead as the pipeline sees it. ``?fields=id,email,score`` answers only those fields."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    stage: serializers.PrimaryKeyRelatedField[Stage] = serializers.PrimaryKeyRelatedField(read_only=True)
    stage_name = serializers.CharField(source="stage.name", read_only=True, default=None)
    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_staff=True, is_active=True), allow_null=True, required=False
    )
    owner_name = serializers.SerializerMethodField()
    tags: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(many=True, slug_field="name", read_only=True)
    score = serializers.SerializerMethodField(help_text="The engagement score now (docs/metrics.md, Pipeline).")
    fit = serializers.SerializerMethodField(help_text="The fit score: the fit rules the lead's fields match.")
    net = serializers.SerializerMethodField(help_text="Net revenue so far, per currency.")
    predicted = serializers.SerializerMethodField(help_text="Predicted future value, per currency.")

    class Meta:
        model = Lead
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "phone",
            "country",
            "company_size",
            "stage",
            "stage_name",
            "owner",
            "owner_name",
            "tags",
            "score",
            "fit",
            "net",
            "predicted",
            "last_activity_at",
            "created_at",
        ]
        read_only_fields = [f for f in fields if f != "owner"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        wanted = kwargs.pop("only", None)
        super().__init__(*args, **kwargs)
        if wanted:
            for name in set(self.fields) - set(wanted):
                self.fields.pop(name)

    def get_owner_name(self, lead: Lead) -> str | None:
        return (lead.owner.get_full_name() or lead.owner.get_username()) if lead.owner else None

    def get_score(self, lead: Lead) -> int:
        context = self.context
        return scoring.score_at(lead.score_base, context.get("now") or timezone.now(), context.get("half_life"))

    def get_fit(self, lead: Lead) -> int:
        return int(self.context.get("fit", {}).get(lead.pk, 0))

    def _money(self, key: str, lead: Lead) -> list[dict[str, Any]]:
        return [{"currency": c, "amount_minor": m} for c, m in self.context.get(key, {}).get(lead.pk, [])]

    def get_net(self, lead: Lead) -> list[dict[str, Any]]:
        return self._money("net", lead)

    def get_predicted(self, lead: Lead) -> list[dict[str, Any]]:
        return self._money("predicted", lead)


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["type", "name", "occurred_at", "funnel_id", "step_id", "offer_id", "order_id", "properties"]


class ConsentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Consent
        fields = ["purpose", "status", "wording", "source", "legal_basis", "eea", "occurred_at"]


class NoteSerializer(serializers.ModelSerializer):
    author: serializers.StringRelatedField[Any] = serializers.StringRelatedField()
    body = serializers.CharField(max_length=10_000, trim_whitespace=True)

    class Meta:
        model = Note
        fields = ["id", "body", "author", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class TaskSerializer(serializers.ModelSerializer):
    lead = serializers.UUIDField(source="lead.public_id", read_only=True)
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_staff=True, is_active=True), allow_null=True, required=False
    )
    done = serializers.BooleanField(required=False, write_only=True, help_text="True marks it done (now).")
    title = serializers.CharField(max_length=200)

    class Meta:
        model = Task
        fields = ["id", "lead", "kind", "title", "due_at", "assignee", "done", "done_at", "created_at"]
        read_only_fields = ["id", "lead", "done_at", "created_at"]


class StageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Stage
        fields = ["id", "name", "position", "win_probability", "is_closed", "stale_after_days"]


class StageMoveSerializer(serializers.ModelSerializer):
    from_stage: serializers.PrimaryKeyRelatedField[Stage] = serializers.PrimaryKeyRelatedField(read_only=True)
    to_stage: serializers.PrimaryKeyRelatedField[Stage] = serializers.PrimaryKeyRelatedField(read_only=True)
    moved_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField()

    class Meta:
        model = StageMove
        fields = ["id", "from_stage", "to_stage", "moved_by", "automatic", "reason", "occurred_at"]


class MoveSerializer(serializers.Serializer):
    stage = serializers.PrimaryKeyRelatedField(queryset=Stage.objects.all(), help_text="The stage to move to.")
    reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class ScoreEventSerializer(serializers.ModelSerializer):
    worth_now = serializers.SerializerMethodField(help_text="What the entry adds to the score now, after decay.")
    author: serializers.StringRelatedField[Any] = serializers.StringRelatedField()

    class Meta:
        model = ScoreEvent
        fields = ["id", "points", "reason", "occurred_at", "worth_now", "rule_id", "event_id", "author"]

    def get_worth_now(self, entry: ScoreEvent) -> float:
        now = self.context.get("now") or timezone.now()
        return round(scoring.decayed(entry.points, entry.occurred_at, now, self.context.get("half_life")), 4)


class AdjustSerializer(serializers.Serializer):
    points = serializers.IntegerField(min_value=-1000, max_value=1000)
    reason = serializers.CharField(max_length=200)

    def validate_points(self, value: int) -> int:
        if value == 0:
            raise serializers.ValidationError("Give points other than 0.")
        return value


class OwnerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
