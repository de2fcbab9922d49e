"""A lead's pipeline facts: the stage history, the score log and its decay setting, tasks. Written only by
leads.pipeline and leads.scoring."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class StageMove(models.Model):
    """The stage history: every move of a lead between stages, by a person or by an automatic rule."""

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="stage_moves", db_index=False)
    from_stage = models.ForeignKey("leads.Stage", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_stage = models.ForeignKey("leads.Stage", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    moved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    automatic = models.BooleanField(default=False, help_text="Moved by a stage rule rather than by a person.")
    reason = models.CharField(max_length=200, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["lead", "-occurred_at"], name="stage_move_lead_time"),
            models.Index(fields=["to_stage", "occurred_at"], name="stage_move_to_time"),
        ]

    def __str__(self) -> str:
        return f"{self.from_stage or '—'} → {self.to_stage or '—'}"


class ScoreEvent(models.Model):
    """One entry of a lead's score log: the points a rule (or a person) gave, when and why. The score is the sum
    of the log, each entry decayed by its age (leads.scoring); ``weight`` is the entry's share of
    ``Lead.score_base``. ``key`` makes each entry once: a rule and an event, a once-per-lead rule and a lead."""

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="score_events", db_index=False)
    rule_id = models.BigIntegerField(null=True, blank=True, help_text="The scoring rule; empty for a person's.")
    event_id = models.BigIntegerField(null=True, blank=True, help_text="The event that earned the points.")
    points = models.IntegerField()
    reason = models.CharField(max_length=200)
    occurred_at = models.DateTimeField()
    weight = models.FloatField()
    key = models.CharField(max_length=200)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["key"], name="score_event_once")]
        indexes = [
            models.Index(fields=["lead", "-occurred_at"], name="score_event_lead_time"),
            models.Index(fields=["rule_id"], name="score_event_rule"),
        ]

    def __str__(self) -> str:
        return f"{self.points:+d} {self.reason}"


class ScoringSettings(models.Model):
    """How fast points fade: one row. Changing the half-life re-weighs the whole log (a set-based rebuild)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    half_life_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        default=90,
        help_text="Points lose half their worth in this many days (7–3650). Empty: points never fade.",
    )

    class Meta:
        verbose_name_plural = "scoring settings"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="scoring_settings_single"),
            models.CheckConstraint(
                condition=Q(half_life_days__isnull=True) | Q(half_life_days__gte=7, half_life_days__lte=3650),
                name="scoring_half_life_range",
            ),
        ]

    def __str__(self) -> str:
        return f"half-life {self.half_life_days} days" if self.half_life_days else "no decay"


class Task(models.Model):
    """Something to do about a lead (a call, an e-mail, a follow-up) by a day, for someone; done once done."""

    class Kind(models.TextChoices):
        CALL = "call", "Call"
        EMAIL = "email", "E-mail"
        FOLLOW_UP = "follow_up", "Follow up"

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.FOLLOW_UP)
    title = models.CharField(max_length=200)
    due_at = models.DateTimeField()
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="lead_tasks"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["done_at", "due_at", "id"]
        indexes = [
            models.Index(fields=["assignee", "due_at"], condition=Q(done_at__isnull=True), name="task_open_due"),
            models.Index(fields=["lead"], condition=Q(done_at__isnull=True), name="task_open_lead"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"
