"""An account at an outside platform and the credentials that reach it: what audiences are synced through and
conversions are reported through."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from common.fields import EncryptedTextField
from integrations.accounts import account_problems, account_required


def sending_through(now: dt.datetime | None = None) -> models.Q:
    """For a model with a ``connection`` and its own ``is_active``: switched on, and its connection may send now
    (switched on, not paused, not asked to wait); ``Connection.sending`` is the same rule for one row."""
    now = now or timezone.now()
    return models.Q(is_active=True, connection__is_active=True, connection__paused_reason="") & ~models.Q(
        connection__wait_until__gt=now
    )


class Connection(models.Model):
    """One account at one platform, reached with one set of credentials (encrypted at rest).

    Every audience destination and conversion destination sends through a connection, and what the platform says
    about the account holds them all alike: refused credentials pause it (``paused_reason``, until a person fixes
    them or the daily check finds they work again); a rate limit or an outage makes it wait (``wait_until``).
    """

    class Platform(models.TextChoices):
        SANDBOX = "sandbox", "Sandbox (records what would be sent)"
        META = "meta", "Meta"
        GOOGLE = "google", "Google Ads"
        WEBHOOK = "webhook", "Signed webhook"

    class GoogleApi(models.TextChoices):
        DATA_MANAGER = "data_manager", "Data Manager API (required for new integrations)"
        GOOGLE_ADS = "google_ads", "Google Ads API (developer tokens already allowlisted for Customer Match)"

    name = models.CharField(max_length=200)
    platform = models.CharField(max_length=10, choices=Platform.choices, default=Platform.SANDBOX)
    account_id = models.CharField(
        max_length=100,
        blank=True,
        help_text="Meta: the ad account, e.g. act_1234567890 (audiences need it). Google: the customer id.",
    )
    login_customer_id = models.CharField(
        max_length=20,
        blank=True,
        help_text="Google: the manager account the credentials reach the ad account through, if any.",
    )
    google_api = models.CharField(
        max_length=12,
        choices=GoogleApi.choices,
        default=GoogleApi.DATA_MANAGER,
        help_text="Google: which API customer lists are kept through. The Google Ads API needs a developer token.",
    )
    endpoint_url = models.URLField(
        max_length=500, blank=True, help_text="Signed webhook: where batches are POSTed (https)."
    )
    credentials = EncryptedTextField(
        blank=True,
        help_text="Meta: an access token. Google: an OAuth client JSON with a refresh token. Signed webhook: the "
        "signing secret. Encrypted, never shown again.",
    )
    is_active = models.BooleanField(default=True, help_text="Switched off: nothing is sent through it.")
    paused_reason = models.CharField(
        max_length=500,
        blank=True,
        editable=False,
        help_text="Why sending stopped until a person acts, in the platform's words (refused credentials, terms).",
    )
    wait_until = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="The platform asked to wait (a rate limit, an outage)."
    )
    failures = models.PositiveIntegerField(
        default=0, editable=False, help_text="Transient failures in a row: the next wait doubles with each."
    )
    checked_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the credentials last reached the account."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_platform_display()})"

    def sending(self, now: dt.datetime | None = None) -> bool:
        """Whether anything may be sent through it now: switched on, not paused, not asked to wait."""
        return not self.held_because(now)

    def held_because(self, now: dt.datetime | None = None) -> str:
        """Why nothing may be sent through it now, in a sentence; ``""`` when it may."""
        now = now or timezone.now()
        if not self.is_active:
            return f"The connection {self.name!r} is switched off."
        if self.paused_reason:
            return f"The connection {self.name!r} is paused: {self.paused_reason}"
        if self.wait_until is not None and self.wait_until > now:
            until = timezone.localtime(self.wait_until)
            return f"The connection {self.name!r} waits until {until:%Y-%m-%d %H:%M}, as its platform asked."
        return ""

    def clean(self) -> None:
        errors = account_problems(self.platform, account_id=self.account_id, login_customer_id=self.login_customer_id)
        if self.platform in (self.Platform.META, self.Platform.GOOGLE) and not self.credentials and not self.pk:
            errors["credentials"] = (
                "A Meta connection needs an access token (ads_management for audiences)."
                if self.platform == self.Platform.META
                else "A Google connection needs OAuth credentials (a client JSON with a refresh token)."
            )
        if self.platform == self.Platform.GOOGLE and not self.account_id.strip():  # audiences and conversions need it
            errors.setdefault("account_id", account_required(self.platform))
        if self.platform == self.Platform.WEBHOOK:
            if not self.endpoint_url:
                errors["endpoint_url"] = "A signed webhook needs the URL its batches are POSTed to."
            elif not self.endpoint_url.startswith("https://") and not settings.WEBHOOK_DESTINATIONS_ALLOW_HTTP:
                errors["endpoint_url"] = "Use an https:// URL: batches carry people's hashed identifiers."
        if errors:
            raise ValidationError(errors)
