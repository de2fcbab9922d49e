"""What the pipeline decides with: scoring rules, fit rules, automatic stage rules, its settings, and how far it
has read the event log. The facts it writes (score log, stage history, tasks) belong to the leads."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from common.fields import EncryptedTextField, URLField
from leads.models import Event, Stage
from offers.models import Offer


class ScoreRule(models.Model):
    """Points for what a lead does (an event, in the audiences' vocabulary) or for going quiet."""

    class Kind(models.TextChoices):
        EVENT = "event", "An event"
        INACTIVITY = "inactivity", "No activity for a while"

    reason = models.CharField(max_length=120, help_text='Shown in the score log, e.g. "opened the order form".')
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.EVENT)
    event_type = models.CharField(max_length=20, choices=Event.Type.choices, blank=True)
    event_name = models.CharField(max_length=100, blank=True, help_text="For custom events: the event's name.")
    funnel = models.ForeignKey("funnels.Funnel", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    step = models.ForeignKey("funnels.Step", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    offer = models.ForeignKey(Offer, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(
        max_length=20, choices=Offer.Role.choices, blank=True, help_text="For purchases: the offer's ladder role."
    )
    inactive_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="For inactivity: this many days without activity, once per quiet spell."
    )
    points = models.SmallIntegerField(help_text="Negative to take points away (−1000 to 1000, not 0).")
    once_per_lead = models.BooleanField(default=False, help_text="Count only the lead's first matching event.")
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "event_type", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(points__gte=-1000, points__lte=1000) & ~Q(points=0), name="score_rule_points"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.points:+d} {self.reason}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.points is not None and (self.points == 0 or not -1000 <= self.points <= 1000):
            errors["points"] = "Give between −1000 and 1000 points, not 0."
        if self.kind == self.Kind.EVENT:
            if not self.event_type:
                errors["event_type"] = "Choose the event that earns the points."
            if self.event_type == Event.Type.CUSTOM and not self.event_name.strip():
                errors["event_name"] = "Name the custom event."
            if self.inactive_days:
                errors["inactive_days"] = "Only an inactivity rule has a number of quiet days."
            if self.step is not None and self.funnel_id and self.step.funnel_id != self.funnel_id:
                errors["step"] = "This step belongs to another funnel."
        else:
            if not self.inactive_days:
                errors["inactive_days"] = "Say after how many quiet days the points apply."
            if self.event_type or self.funnel_id or self.step_id or self.offer_id or self.role:
                errors["event_type"] = "An inactivity rule matches no event: leave the event fields empty."
        if errors:
            raise ValidationError(errors)


class FitRule(models.Model):
    """Points for who a lead is (their own fields), shown apart from the engagement score and never decaying."""

    class Field(models.TextChoices):
        COUNTRY = "country", "Country (ISO code)"
        TAG = "tag", "Has tag"
        COMPANY_SIZE = "company_size", "Company size (employees)"

    field = models.CharField(max_length=12, choices=Field.choices)
    value = models.CharField(
        max_length=100,
        help_text="A country code such as US, a tag's name, or a company size as a range (10-49) or a floor (200+).",
    )
    points = models.SmallIntegerField(help_text="−1000 to 1000.")

    class Meta:
        ordering = ["field", "value"]
        constraints = [models.UniqueConstraint(fields=["field", "value"], name="fit_rule_once")]

    def __str__(self) -> str:
        return f"{self.points:+d} {self.get_field_display()} {self.value}"

    def clean(self) -> None:
        self.value = self.value.strip().upper() if self.field == self.Field.COUNTRY else self.value.strip().lower()
        if self.field == self.Field.COUNTRY and not (len(self.value) == 2 and self.value.isalpha()):
            raise ValidationError({"value": "Enter a two-letter country code, e.g. US."})
        if self.field == self.Field.COMPANY_SIZE and size_range(self.value) is None:
            raise ValidationError({"value": "Enter employees as a range such as 10-49, or a floor such as 200+."})
        if self.points is not None and not -1000 <= self.points <= 1000:
            raise ValidationError({"points": "Give between −1000 and 1000 points."})


def size_range(value: str) -> tuple[int, int | None] | None:
    """A company-size rule's bounds, inclusive (``10-49`` → (10, 49); ``200+`` → (200, None)), or None if malformed."""
    text = value.replace(" ", "")
    if text.endswith("+") and text[:-1].isdigit():
        return int(text[:-1]), None
    low, dash, high = text.partition("-")
    if dash and low.isdigit() and high.isdigit() and int(low) <= int(high):
        return int(low), int(high)
    return None


class StageRule(models.Model):
    """Moves a lead's stage when something happens. Rules only move a lead forward (to a later stage), except a
    full refund, which moves it back; a person's move wins over every rule for ``manual_wins_days``."""

    class Trigger(models.TextChoices):
        OPTIN = "optin", "Opts in"
        IMPORTED = "imported", "Is imported from a list"
        PURCHASE = "purchase", "Buys"
        FULL_REFUND = "full_refund", "Is refunded in full"

    trigger = models.CharField(max_length=12, choices=Trigger.choices)
    role = models.CharField(
        max_length=20, choices=Offer.Role.choices, blank=True, help_text="For purchases: only this ladder role."
    )
    stage = models.ForeignKey(
        Stage,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Where the lead goes. For a full refund, empty means back to the stage before.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["trigger", "role"]

    def __str__(self) -> str:
        what = self.get_trigger_display().lower()
        if self.role:
            what += f" a {self.get_role_display().lower()}"
        return f"{what} → {self.stage or 'the stage before'}"

    def clean(self) -> None:
        if self.trigger != self.Trigger.PURCHASE and self.role:
            raise ValidationError({"role": "Only a purchase rule names a ladder role."})
        if self.trigger != self.Trigger.FULL_REFUND and self.stage_id is None:
            raise ValidationError({"stage": "Choose the stage the lead moves to."})


class PipelineSettings(models.Model):
    """One row: how long a person's move outranks the rules, and when a lead is hot."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    manual_wins_days = models.PositiveSmallIntegerField(
        default=14, help_text="After a person moves a lead, stage rules leave it alone for this many days."
    )
    hot_score = models.PositiveIntegerField(default=50, help_text="A lead whose score reaches this is hot.")
    daily_digest = models.BooleanField(
        default=True, help_text="E-mail each owner, every morning, their overdue and due tasks and stale leads."
    )
    round_robin = models.BooleanField(
        default=False, help_text="Give each new lead no assignment rule matches to the next active sales user."
    )
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        verbose_name_plural = "pipeline settings"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="pipeline_settings_single")]

    def __str__(self) -> str:
        return "Pipeline settings"


class PipelineCursor(models.Model):
    """How far the pipeline has read the event log."""

    name = models.CharField(max_length=40, primary_key=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.position}"


class PipelineGap(models.Model):
    """An event id the cursor passed before it existed (a transaction still open); read when it appears."""

    event_id = models.BigIntegerField(primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return str(self.event_id)


class ApiToken(models.Model):
    """A person's key to the staff REST API. Only a SHA-256 of the secret is kept: the token is shown once, when it
    is made. It acts with its owner's permissions, exactly as the admin does; revoking it ends it at once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text='What it is for, e.g. "CRM sync".')
    prefix = models.CharField(max_length=12, unique=True, editable=False, help_text="Shown to tell tokens apart.")
    secret_sha256 = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class AssignmentRule(models.Model):
    """Who gets a new lead (one without an owner, when it opts in): the first rule, by position, whose country and
    funnel match; with no rule matching, the next active sales user in turn (when round-robin is on)."""

    position = models.PositiveSmallIntegerField(default=0)
    country = models.CharField(max_length=2, blank=True, help_text="ISO code, e.g. DE; empty: any country.")
    funnel = models.ForeignKey(
        "funnels.Funnel", null=True, blank=True, on_delete=models.CASCADE, related_name="+", help_text="Empty: any."
    )
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.country or 'any country'}, {self.funnel or 'any funnel'} → {self.owner}"

    def clean(self) -> None:
        self.country = self.country.strip().upper()
        if self.country and not (len(self.country) == 2 and self.country.isalpha()):
            raise ValidationError({"country": "Enter a two-letter country code, e.g. DE, or leave it empty."})


class StageTotal(models.Model):
    """The board's totals kept rather than counted (PostgreSQL only, by triggers; see pipeline/totals.py): per
    stage, owner and currency, the leads not erased (``currency`` empty) and their net revenue and predicted value.
    Keys are 0 for "no stage" and "no owner"."""

    stage_key = models.BigIntegerField()
    owner_key = models.BigIntegerField()
    currency = models.CharField(max_length=3, blank=True)
    leads = models.BigIntegerField(default=0)
    net_minor = models.BigIntegerField(default=0)
    predicted_minor = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stage_key", "owner_key", "currency"], name="stage_total_once")]

    def __str__(self) -> str:
        return f"stage {self.stage_key} owner {self.owner_key} {self.currency or 'leads'}"


class DigestSent(models.Model):
    """A person's daily digest for a day: made once, marked when sent (a crash between the two sends it again)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="digest_once_a_day")]

    def __str__(self) -> str:
        return f"digest for {self.user_id} on {self.day}"


class LeadWebhook(models.Model):
    """Where the pipeline tells another system (Slack, a CRM) that a lead turned hot or changed stage: JSON POSTs
    signed as the audience webhook's are (``Ladder-Signature``), retried until the receiver takes them."""

    name = models.CharField(max_length=100, help_text='What receives them, e.g. "Sales channel in Slack".')
    url = URLField(max_length=500, help_text="Where events are POSTed (https).")
    secret = EncryptedTextField(help_text="The signing secret the receiver checks; encrypted, never shown again.")
    on_stage_change = models.BooleanField(default=True, help_text="Every stage change, by a person or a rule.")
    on_hot = models.BooleanField(default=True, help_text="A lead's score reaches the hot score (Pipeline settings).")
    include_contact = models.BooleanField(
        default=False,
        help_text="Send the lead's e-mail, name and phone too (the receiver then holds personal data). Otherwise "
        "the lead's id and admin link.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "lead webhook"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.url and not self.url.startswith("https://") and not settings.WEBHOOK_DESTINATIONS_ALLOW_HTTP:
            raise ValidationError({"url": "Use an https:// address: events carry lead data."})
        if self.secret and len(self.secret) < 16:
            raise ValidationError("Give a signing secret of at least 16 characters.")


class HookDelivery(models.Model):
    """One event for one webhook: written in the transaction that read its cause from the stage history or score
    log, sent by ``pipeline.hooks`` (retried with backoff), the payload built when sent (an erased lead's is
    dropped)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        DROPPED = "dropped", "Dropped"

    class Kind(models.TextChoices):
        STAGE_CHANGED = "lead.stage_changed", "Stage changed"
        HOT = "lead.hot", "Lead is hot"

    webhook = models.ForeignKey(LeadWebhook, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="+")
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    details = models.JSONField(default=dict, blank=True, help_text="Stage ids, who moved it, or the score reached.")
    occurred_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    reason = models.CharField(max_length=300, blank=True, help_text="The receiver's answer when it was not taken.")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "hook deliveries"
        indexes = [models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="hook_delivery_due")]

    def __str__(self) -> str:
        return f"{self.kind} to {self.webhook_id}: {self.status}"


class HotLead(models.Model):
    """Leads whose score is at or above the hot score, as the hooks last saw it: a lead turns hot once, until it
    cools below the mark again (a score rebuild does not make it hot twice)."""

    lead = models.OneToOneField("leads.Lead", on_delete=models.CASCADE, primary_key=True, related_name="+")
    since = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.lead_id} since {self.since}"


class HookMoveGap(models.Model):
    """A stage-history id the hooks' cursor passed before it existed (see leads.log)."""

    event_id = models.BigIntegerField(primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return str(self.event_id)


class HookScoreGap(models.Model):
    """A score-log id the hooks' cursor passed before it existed (see leads.log)."""

    event_id = models.BigIntegerField(primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return str(self.event_id)
