from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from audiences.rules import rule_problems
from common.fields import EncryptedTextField
from integrations.google.datamanager import customer_id_normalized


def _default_rule() -> dict[str, Any]:
    return {"event": {"type": "optin", "within_days": 7}}


class Audience(models.Model):
    """A named group of leads to retarget or exclude, kept in sync with ad platforms through destinations.

    ``rule`` says who belongs (see audiences/rules/__init__.py); the members are stored and kept current.
    """

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    rule = models.JSONField(default=_default_rule, help_text="Who belongs: conditions on events, purchases, fields.")
    refresh_minutes = models.PositiveIntegerField(
        default=60, help_text="Besides the live updates, rebuild the whole audience this often (repairs drift)."
    )
    member_count = models.PositiveIntegerField(default=0, editable=False)
    rule_error = models.TextField(
        blank=True, editable=False, help_text="Why the last refresh could not run (members were left as they were)."
    )
    refreshed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=models.Q(refresh_minutes__gte=5), name="audience_refresh_5m")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        problems = rule_problems(self.rule)
        if problems:
            raise ValidationError({"rule": problems})


class AudienceMember(models.Model):
    """A lead in an audience now, and since when.

    Derived data: a full refresh rebuilds it from the rule, so it is kept lean for that rebuild's bulk insert
    (half a million rows at a time). Its key is (audience, lead), with no surrogate id, and it carries no
    database foreign keys, whose per-row checks would cost more than the insert itself. Django still deletes
    a lead's or an audience's members with them, and a full refresh removes any row whose lead the rule no
    longer selects, an orphan included; every reader joins to the lead, so an orphan is never uploaded.
    """

    pk = models.CompositePrimaryKey("audience", "lead")
    audience = models.ForeignKey(
        Audience, on_delete=models.CASCADE, related_name="members", db_index=False, db_constraint=False
    )
    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.CASCADE, related_name="audience_memberships", db_index=False, db_constraint=False
    )
    since = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["lead"], name="audience_member_lead")]

    def __str__(self) -> str:
        return f"{self.lead_id} in {self.audience_id}"


class AudienceSize(models.Model):
    """An audience's size on a day (the last full refresh of that day), for its growth chart."""

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="sizes")
    day = models.DateField()
    size = models.PositiveIntegerField()

    class Meta:
        ordering = ["audience", "day"]
        constraints = [models.UniqueConstraint(fields=["audience", "day"], name="audience_size_daily")]

    def __str__(self) -> str:
        return f"{self.audience_id} on {self.day}: {self.size}"


class Destination(models.Model):
    """One ad-platform audience that an Audience is synced to. Credentials are encrypted at rest."""

    class Platform(models.TextChoices):
        SANDBOX = "sandbox", "Sandbox (records what would be sent)"
        META = "meta", "Meta Custom Audience"
        GOOGLE = "google", "Google Customer Match"
        WEBHOOK = "webhook", "Signed webhook"

    class GoogleApi(models.TextChoices):
        DATA_MANAGER = "data_manager", "Data Manager API (required for new integrations)"
        GOOGLE_ADS = "google_ads", "Google Ads API (developer tokens already allowlisted for Customer Match)"

    class Mode(models.TextChoices):
        MIRROR = "mirror", "Mirror (add and remove)"
        ADDITIVE = "additive", "Additive only"

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="destinations")
    name = models.CharField(max_length=200)
    platform = models.CharField(max_length=10, choices=Platform.choices, default=Platform.SANDBOX)
    account_id = models.CharField(max_length=100, blank=True, help_text="Ad account or customer id.")
    remote_audience_id = models.CharField(max_length=100, blank=True, help_text="Created on first sync when empty.")
    endpoint_url = models.URLField(
        max_length=500, blank=True, help_text="Signed webhook: where batches are POSTed (https)."
    )
    google_api = models.CharField(
        max_length=12,
        choices=GoogleApi.choices,
        default=GoogleApi.DATA_MANAGER,
        help_text="Google: which API the list is kept through. The Google Ads API needs a developer token.",
    )
    login_customer_id = models.CharField(
        max_length=20,
        blank=True,
        help_text="Google: the manager account the credentials reach the ad account through, if any.",
    )
    credentials = EncryptedTextField(
        blank=True, help_text="Access token, or a signed webhook's signing secret; encrypted, never shown again."
    )
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
    wait_until = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="After a rate limit or outage: no scheduled sync before this."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["audience", "name"]
        constraints = [
            models.UniqueConstraint(fields=["audience", "platform", "account_id"], name="destination_unique_account")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_platform_display()})"

    def clean(self) -> None:
        if self.value_based:
            if self.platform not in (self.Platform.META, self.Platform.SANDBOX):
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
        if self.platform == self.Platform.META:
            if not self.account_id.strip().removeprefix("act_").isdigit():
                raise ValidationError({"account_id": "Enter the Meta ad account's number, e.g. act_1234567890."})
            if not self.credentials and not self.pk:
                raise ValidationError({"credentials": "A Meta destination needs an access token with ads_management."})
            return
        if self.platform == self.Platform.GOOGLE:
            errors = {}
            if not customer_id_normalized(self.account_id):
                errors["account_id"] = "Enter the Google Ads customer id: ten digits, e.g. 123-456-7890."
            if self.login_customer_id and not customer_id_normalized(self.login_customer_id):
                errors["login_customer_id"] = "Enter the manager account's customer id: ten digits, or leave it empty."
            if not self.credentials and not self.pk:
                errors["credentials"] = "A Google destination needs OAuth credentials for the Data Manager API."
            if errors:
                raise ValidationError(errors)
            return
        if self.platform != self.Platform.WEBHOOK:
            return
        if not self.endpoint_url:
            raise ValidationError({"endpoint_url": "A signed webhook needs the URL its batches are POSTed to."})
        if not self.endpoint_url.startswith("https://") and not settings.WEBHOOK_DESTINATIONS_ALLOW_HTTP:
            raise ValidationError({"endpoint_url": "Use an https:// URL: batches carry people's hashed identifiers."})


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
