from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from common.fields import URLField


class Stage(models.Model):
    """A step of the sales pipeline; ``position`` orders them, ``win_probability`` weighs pipeline value."""

    name = models.CharField(max_length=60, unique=True)
    position = models.PositiveSmallIntegerField(unique=True)
    win_probability = models.PositiveSmallIntegerField(help_text="Chance, in per cent, that a lead here buys.")
    is_closed = models.BooleanField(default=False, help_text="Won or lost: the lead has left the pipeline.")
    stale_after_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="A lead here with no activity and no open task for this many days is stale. Empty: never.",
    )

    class Meta:
        ordering = ["position"]
        constraints = [
            models.CheckConstraint(condition=Q(win_probability__lte=100), name="stage_win_probability_percent"),
        ]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=Q(name=Lower("name")), name="tag_name_lowercase")]

    def __str__(self) -> str:
        return self.name


class Lead(models.Model):
    """One person, keyed by normalized e-mail. PII fields are blanked by erasure; the row stays as a tombstone."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField(max_length=254, unique=True, help_text="Stored trimmed and lower-cased.")
    phone = models.CharField(max_length=16, blank=True, help_text="E.164, e.g. +14155550123.")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2, e.g. US.")
    region = models.CharField(max_length=100, blank=True, help_text="State or province.")
    city = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    company_size = models.PositiveIntegerField(null=True, blank=True, help_text="Employees, if known.")
    tags = models.ManyToManyField(Tag, blank=True, related_name="leads")
    stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="leads")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_leads"
    )
    # The sum of the lead's score log, each entry weighed by 2^((occurred_at − SCORE_ANCHOR) / half-life): today's
    # decayed score is this times one factor common to every lead (leads.scoring), so it filters and sorts.
    score_base = models.FloatField(default=0, editable=False)
    last_activity_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="The lead's latest event, note, task or stage move."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(email=Lower("email")), name="lead_email_normalized"),
            models.CheckConstraint(
                condition=Q(phone="") | Q(phone__regex=r"^\+[1-9][0-9]{6,14}$"), name="lead_phone_e164"
            ),
            models.CheckConstraint(condition=Q(country="") | Q(country__regex=r"^[A-Z]{2}$"), name="lead_country"),
        ]
        indexes = [
            models.Index(fields=["stage", "score_base"], name="lead_stage_score"),
            models.Index(fields=["owner", "stage"], name="lead_owner_stage"),
            models.Index(fields=["stage", "last_activity_at"], name="lead_stage_activity"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Touch(models.Model):
    """Attribution of a lead: the first visit that brought them and the last one before they converted."""

    class Kind(models.TextChoices):
        FIRST = "first", "First touch"
        LAST = "last", "Last touch"

    # No index of its own: touch_one_per_kind (lead, kind) serves lookups by lead.
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="touches", db_index=False)
    kind = models.CharField(max_length=5, choices=Kind.choices)
    occurred_at = models.DateTimeField()
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)
    referrer = URLField(max_length=2000, blank=True)
    landing_url = URLField(max_length=2000, blank=True)
    fbclid = models.CharField(max_length=500, blank=True)
    fbc = models.CharField(max_length=600, blank=True, help_text="Meta click id cookie: fb.1.<ms>.<fbclid>.")
    gclid = models.CharField(max_length=500, blank=True)
    gbraid = models.CharField(max_length=500, blank=True)
    wbraid = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["lead", "kind"]
        constraints = [models.UniqueConstraint(fields=["lead", "kind"], name="touch_one_per_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.utm_source or 'direct'}"


class Consent(models.Model):
    """An append-only record of what a person agreed to (or withdrew), in the exact words they were shown."""

    class Purpose(models.TextChoices):
        MARKETING_EMAIL = "marketing_email", "Marketing e-mail"
        AD_AUDIENCES = "ad_audiences", "Ad audiences"

    class Status(models.TextChoices):
        GRANTED = "granted", "Granted"
        WITHDRAWN = "withdrawn", "Withdrawn"

    class LegalBasis(models.TextChoices):
        CONSENT = "consent", "Consent (GDPR art. 6(1)(a))"
        LEGITIMATE_INTEREST = "legitimate_interest", "Legitimate interest (art. 6(1)(f))"
        CONTRACT = "contract", "Contract (art. 6(1)(b))"

    # No index of its own: consent_latest (lead, purpose, time) serves lookups by lead.
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="consents", db_index=False)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    status = models.CharField(max_length=10, choices=Status.choices)
    wording = models.TextField(help_text="The exact text the person saw next to the checkbox.")
    source = models.CharField(max_length=200, help_text="Where it was given: a funnel step, the API, the admin.")
    legal_basis = models.CharField(max_length=20, choices=LegalBasis.choices, default=LegalBasis.CONSENT)
    eea = models.BooleanField(default=False, help_text="EEA/UK rules apply: explicit consent is required.")
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["lead", "purpose", "-occurred_at"], name="consent_latest")]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} {self.status}"


class Event(models.Model):
    """An append-only fact about a lead or an anonymous visitor. Audiences and reports read these.

    Funnel, step, variant, offer and order are plain ids rather than foreign keys: the event log sits below
    those apps (dependencies point one way) and must outlive the rows it mentions.
    """

    class Type(models.TextChoices):
        PAGE_VIEW = "page_view", "Page view"
        OPTIN = "optin", "Opt-in"
        CHECKOUT_STARTED = "checkout_started", "Checkout started"
        PURCHASE = "purchase", "Purchase"
        UPSELL_ACCEPTED = "upsell_accepted", "Upsell accepted"
        UPSELL_DECLINED = "upsell_declined", "Upsell declined"
        REFUND = "refund", "Refund"
        CHARGEBACK = "chargeback", "Chargeback"
        CUSTOM = "custom", "Custom"
        IMPORTED = "imported", "Imported from a list"

    type = models.CharField(max_length=20, choices=Type.choices)
    name = models.CharField(max_length=100, blank=True, help_text="For custom events: the event's own name.")
    # No index of its own: event_lead_type_time (lead, type, occurred_at) serves every lookup by lead.
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    visitor_id = models.UUIDField(null=True, blank=True)
    funnel_id = models.BigIntegerField(null=True, blank=True)
    step_id = models.BigIntegerField(null=True, blank=True)
    variant_id = models.BigIntegerField(null=True, blank=True)
    offer_id = models.BigIntegerField(null=True, blank=True)
    order_id = models.BigIntegerField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)
    properties = models.JSONField(default=dict, blank=True)
    # Unique by a constraint rather than unique=True, which on PostgreSQL adds a second (pattern-matching) index that
    # every insert pays for and no query uses.
    idempotency_key = models.CharField(max_length=200)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="event_idempotency_key_unique"),
            models.CheckConstraint(
                condition=Q(lead__isnull=False) | Q(visitor_id__isnull=False), name="event_has_subject"
            ),
            models.CheckConstraint(condition=~Q(type="custom") | ~Q(name=""), name="event_custom_has_name"),
        ]
        indexes = [
            models.Index(fields=["lead", "type", "occurred_at"], name="event_lead_type_time"),
            # Audience rules ("opted in within 30 days"): on PostgreSQL the lead is read from the index alone.
            models.Index(fields=["type", "occurred_at"], include=["lead"], name="event_type_time_lead"),
            models.Index(fields=["funnel_id", "type", "occurred_at"], name="event_funnel_type_time"),
            models.Index(fields=["offer_id", "type"], name="event_offer_type"),
            # Serves the first/last-touch lookup and, by its prefix, linking a visitor's events to the lead.
            models.Index(fields=["visitor_id", "type", "occurred_at"], name="event_visitor_type_time"),
            # A visitor's events from before they opted in, which capture links to the new lead.
            models.Index(fields=["visitor_id"], condition=Q(lead__isnull=True), name="event_anonymous_visitor"),
        ]

    def __str__(self) -> str:
        return f"{self.type} at {self.occurred_at:%Y-%m-%d %H:%M}"


class Note(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.body[:60]


class LeadMark(models.Model):
    """A lead whose audiences may have changed (a new event, an edit); the audience refresher takes these.

    One row per lead however many changes there were (the marks coalesce); ``marked_at`` moves with each change, so
    a change made while the refresher works on the lead is not cleared with the older mark.
    """

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, primary_key=True, related_name="+")
    marked_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["marked_at"], name="lead_mark_time")]

    def __str__(self) -> str:
        return f"lead {self.pk} changed at {self.marked_at:%Y-%m-%d %H:%M:%S}"


class Suppression(models.Model):
    """An erased person's e-mail, kept only as a SHA-256 fingerprint so the address is never captured again."""

    email_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"suppressed {self.email_sha256[:12]}…"


class ConversionOutbox(models.Model):
    """A conversion to report, written in the transaction that records its event. The dispatcher turns it into one
    delivery for each destination and deletes it. ``client`` is the browser's context (IP, user agent, Meta's fbp
    cookie), kept only until it is delivered."""

    event = models.OneToOneField(Event, primary_key=True, on_delete=models.CASCADE, related_name="+")
    client = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"conversion {self.event_id}"


# The pipeline's facts about a lead (stage history, score log, tasks) live beside it; imported here so the app sees
# them as its models.
from leads.models.imports import ImportProblem, LeadImport  # noqa: E402
from leads.models.pipeline import ScoreEvent, ScoringSettings, StageMove, Task  # noqa: E402

__all__ = [
    "Consent",
    "ConversionOutbox",
    "Event",
    "ImportProblem",
    "Lead",
    "LeadImport",
    "LeadMark",
    "Note",
    "ScoreEvent",
    "ScoringSettings",
    "Stage",
    "StageMove",
    "Suppression",
    "Tag",
    "Task",
    "Touch",
    "UndeliverableAddress",
]


class UndeliverableAddress(models.Model):
    """An address the mail provider reported as bounced, complained about or rejected: nothing more is sent to it
    (deleting the row lets mail go again). Kept as a SHA-256 of the normalized address, like a suppression."""

    email_sha256 = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=20, help_text="bounced, complained or rejected")
    provider = models.CharField(max_length=40, blank=True)
    reported_at = models.DateTimeField()

    class Meta:
        ordering = ["-reported_at"]
        verbose_name = "undeliverable address"

    def __str__(self) -> str:
        return f"{self.reason} ({self.provider})" if self.provider else self.reason
