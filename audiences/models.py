from __future__ import annotations

from django.db import models

from common.fields import EncryptedTextField


class Audience(models.Model):
    """A named group of leads to retarget or exclude, kept in sync with ad platforms through destinations."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Destination(models.Model):
    """One ad-platform audience that an Audience is synced to. Credentials are encrypted at rest."""

    class Platform(models.TextChoices):
        SANDBOX = "sandbox", "Sandbox (records what would be sent)"
        META = "meta", "Meta Custom Audience"
        GOOGLE = "google", "Google Customer Match"
        WEBHOOK = "webhook", "Signed webhook"

    class Mode(models.TextChoices):
        MIRROR = "mirror", "Mirror (add and remove)"
        ADDITIVE = "additive", "Additive only"

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="destinations")
    name = models.CharField(max_length=200)
    platform = models.CharField(max_length=10, choices=Platform.choices, default=Platform.SANDBOX)
    account_id = models.CharField(max_length=100, blank=True, help_text="Ad account or customer id.")
    remote_audience_id = models.CharField(max_length=100, blank=True, help_text="Created on first sync when empty.")
    credentials = EncryptedTextField(blank=True, help_text="Access token or key; encrypted, never shown again.")
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.MIRROR)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["audience", "name"]
        constraints = [
            models.UniqueConstraint(fields=["audience", "platform", "account_id"], name="destination_unique_account")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_platform_display()})"
