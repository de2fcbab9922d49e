"""Where an audience is synced to, and what each sync sent and the platform said."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import models

from audiences.models import Audience
from audiences.models.connections import Connection
from integrations.accounts import account_required


class Destination(models.Model):
    """One ad-platform audience that an Audience is synced to, through a connection (the account and its
    credentials)."""

    class Mode(models.TextChoices):
        MIRROR = "mirror", "Mirror (add and remove)"
        ADDITIVE = "additive", "Additive only"

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="destinations")
    name = models.CharField(max_length=200)
    connection = models.ForeignKey(
        Connection,
        on_delete=models.PROTECT,
        related_name="destinations",
        help_text="The account the audience is kept at, and the credentials that reach it.",
    )
    remote_audience_id = models.CharField(max_length=100, blank=True, help_text="Created on first sync when empty.")
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.MIRROR)
    value_based = models.BooleanField(
        default=False,
        help_text=(
            "Meta: a customer-value audience, each member sent with their predicted lifetime value "
            "(LOOKALIKE_VALUE), the seed of a value-based lookalike. Chosen when the audience is created at Meta; "
            "the sandbox previews the values it would send."
        ),
    )
    value_currency = models.CharField(
        max_length=3, blank=True, help_text="Value-based: the currency whose predicted values are sent, e.g. USD."
    )
    is_active = models.BooleanField(default=True)
    schedule_minutes = models.PositiveIntegerField(default=60, help_text="Send what changed this often.")
    last_synced_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["audience", "name"]
        constraints = [models.UniqueConstraint(fields=["audience", "connection"], name="destination_once_a_connection")]

    def __str__(self) -> str:
        return f"{self.name} ({self.platform_display})"

    @property
    def platform(self) -> str:
        return self.connection.platform

    def sending(self, now: dt.datetime | None = None) -> bool:
        """Whether it may send now: switched on, and its connection may send (not paused, not asked to wait)."""
        return self.is_active and self.connection.sending(now)

    @property
    def platform_display(self) -> str:
        return self.connection.get_platform_display()

    def clean(self) -> None:
        try:
            connection: Connection | None = self.connection
        except Connection.DoesNotExist:  # none chosen yet: the form says so for the field
            connection = None
        if self.value_based:
            if connection is not None and connection.platform not in VALUE_PLATFORMS:
                raise ValidationError(
                    {"value_based": "Only Meta custom audiences (and the sandbox's preview of them) take a value."}
                )
            if len(self.value_currency) != 3 or not self.value_currency.isalpha():
                raise ValidationError(
                    {"value_currency": "Name the currency whose predicted values are sent, e.g. USD."}
                )
            self.value_currency = self.value_currency.upper()
        elif self.value_currency:
            self.value_currency = ""
        needed = account_required(connection.platform) if connection is not None else ""
        if needed and connection is not None and not connection.account_id.strip():
            raise ValidationError({"connection": f"Audiences are kept in an ad account: {needed}"})


VALUE_PLATFORMS = (Connection.Platform.META, Connection.Platform.SANDBOX)


class SyncRun(models.Model):
    """One sync of a destination: what the diff found, what was sent, what the platform said."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="runs")
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    to_add = models.PositiveIntegerField(default=0)
    to_remove = models.PositiveIntegerField(default=0)
    to_update = models.PositiveIntegerField(default=0, help_text="Members whose identifiers changed.")
    sent = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    retries = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="The platform's reason; never identifiers.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.destination} at {self.started_at:%Y-%m-%d %H:%M}: {self.get_status_display()}"


class SyncBatch(models.Model):
    """One call to the platform within a run."""

    class Kind(models.TextChoices):
        ADD = "add", "Add"
        REMOVE = "remove", "Remove"
        REPLACE = "replace", "Replace (reconcile)"

    class RemoteStatus(models.TextChoices):
        PROCESSING = "processing", "Processing"
        SUCCEEDED = "succeeded", "Applied"
        PARTIAL = "partial", "Partly applied"
        FAILED = "failed", "Failed at the platform"

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="batches")
    kind = models.CharField(max_length=7, choices=Kind.choices)
    size = models.PositiveIntegerField()
    accepted = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    reasons = models.JSONField(default=dict, blank=True, help_text="Invalid rows by the platform's reason.")
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    payload = models.JSONField(
        null=True, blank=True, help_text="Sandbox destinations: the hashed rows that would have been sent."
    )
    request_id = models.CharField(max_length=100, blank=True, help_text="Google: the request to ask the outcome of.")
    remote_status = models.CharField(
        max_length=10,
        choices=RemoteStatus.choices,
        blank=True,
        help_text="Platforms that apply a request later (Google): what they finally did with it.",
    )
    lead_ids = models.JSONField(
        null=True, blank=True, help_text="Google: the leads in the request, so a request Google failed is sent again."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.size}"


class SyncLedger(models.Model):
    """What a destination has been told about one lead: the hashes sent, added or removed, when, in which run.

    The next sync sends the difference between the audience's consented members and this ledger.
    """

    class State(models.TextChoices):
        ADDED = "added", "Added"
        REMOVED = "removed", "Removed"

    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="ledger")
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="+")
    hashes = models.JSONField(default=dict, help_text="The hashes sent, and a value-based audience's LOOKALIKE_VALUE.")
    state = models.CharField(max_length=8, choices=State.choices)
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["destination", "lead"], name="sync_ledger_once")]
        indexes = [models.Index(fields=["destination", "state"], name="sync_ledger_state")]

    def __str__(self) -> str:
        return f"{self.lead_id} {self.state} at {self.destination_id}"
