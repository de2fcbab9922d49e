"""What campaigns cost: ad accounts whose daily campaign spend is imported, the imported rows, and costs entered by
hand (influencers, newsletters, tools, agency fees) that no platform reports."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from common.fields import CurrencyField, EncryptedTextField
from integrations.accounts import account_problems, account_required


class AdAccount(models.Model):
    class Platform(models.TextChoices):
        META = "meta", "Meta"
        GOOGLE = "google", "Google Ads"

    platform = models.CharField(max_length=10, choices=Platform.choices)
    account_id = models.CharField(
        max_length=40, help_text="Meta: act_1234567890 (act_ optional). Google: the customer id, 123-456-7890."
    )
    name = models.CharField(max_length=200, blank=True, help_text="Read from the platform when the account is checked.")
    currency = models.CharField(
        max_length=3, blank=True, help_text="The account's currency, read from the platform: spend is counted in it."
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        help_text="The account's time zone, read from the platform: its days are counted in it.",
    )
    credentials = EncryptedTextField(
        blank=True,
        help_text="Meta: an access token with ads_read. Google: a refresh-token credential (JSON). Encrypted, never "
        "shown again.",
    )
    login_customer_id = models.CharField(
        max_length=20, blank=True, help_text="Google: the manager account the credentials reach this account through."
    )
    is_active = models.BooleanField(default=True)
    paused_reason = models.CharField(
        max_length=500, blank=True, help_text="Why imports stopped, in the platform's words."
    )
    wait_until = models.DateTimeField(null=True, blank=True, help_text="The platform asked to wait until then.")
    last_imported_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["platform", "account_id"]
        constraints = [models.UniqueConstraint(fields=["platform", "account_id"], name="ad_account_once")]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} {self.name or self.account_id}"

    def clean(self) -> None:
        errors = account_problems(self.platform, account_id=self.account_id, login_customer_id=self.login_customer_id)
        if not self.account_id.strip() and (needed := account_required(self.platform)):
            errors["account_id"] = needed
        if errors:
            raise ValidationError(errors)


class CampaignDay(models.Model):
    """One campaign's spend on one day (the ad account's day), as the platform last reported it: an import of that
    day replaces the row, because platforms restate recent days."""

    account = models.ForeignKey(AdAccount, on_delete=models.CASCADE, related_name="campaign_days")
    campaign_id = models.CharField(max_length=64)
    campaign_name = models.CharField(max_length=300, blank=True)
    day = models.DateField()
    currency = CurrencyField()
    spend_minor = models.BigIntegerField(validators=[MinValueValidator(0)])
    impressions = models.BigIntegerField(default=0)
    clicks = models.BigIntegerField(default=0)
    platform_conversions = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    platform_conversion_value_minor = models.BigIntegerField(default=0)
    imported_at = models.DateTimeField()

    class Meta:
        ordering = ["-day", "account", "campaign_id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "campaign_id", "day"], name="campaign_day_once"),
            models.CheckConstraint(condition=models.Q(spend_minor__gte=0), name="campaign_day_spend_not_negative"),
        ]
        indexes = [models.Index(fields=["day"], name="campaign_day_day")]

    def __str__(self) -> str:
        return f"{self.campaign_name or self.campaign_id} on {self.day}"


class ClickCampaign(models.Model):
    """A Google ad click (its GCLID) and the campaign it was on, from ``click_view``: it attributes a lead whose
    link carried only the click id to its campaign."""

    account = models.ForeignKey(AdAccount, on_delete=models.CASCADE, related_name="clicks")
    gclid = models.CharField(max_length=500)
    campaign_id = models.CharField(max_length=64)
    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["gclid"], name="click_campaign_once")]

    def __str__(self) -> str:
        return f"{self.gclid[:12]}… → {self.campaign_id}"


class OtherCost(models.Model):
    """Money spent that no ad platform reports, entered in the admin or uploaded as CSV."""

    day = models.DateField()
    source = models.CharField(max_length=200, help_text="As in utm_source, e.g. newsletter, influencer, print.")
    campaign = models.CharField(
        max_length=200, blank=True, help_text="As in utm_campaign, when the cost belongs to one campaign."
    )
    amount_minor = models.BigIntegerField(validators=[MinValueValidator(0)])
    currency = CurrencyField()
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-day", "source", "campaign"]
        constraints = [models.CheckConstraint(condition=models.Q(amount_minor__gte=0), name="other_cost_not_negative")]

    def __str__(self) -> str:
        return f"{self.source} {self.campaign} on {self.day}".strip()


class SpendImport(models.Model):
    """One import of an account's days: what it read and how it ended."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    account = models.ForeignKey(AdAccount, on_delete=models.CASCADE, related_name="imports")
    since = models.DateField()
    until = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    rows = models.IntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.account}: {self.since} to {self.until} ({self.get_status_display()})"
