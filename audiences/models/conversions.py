"""Where conversions are reported server-side, and each conversion's delivery to each of them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from audiences.models.connections import Connection

CONVERSION_PLATFORMS = (Connection.Platform.META, Connection.Platform.GOOGLE)


class ConversionDestination(models.Model):
    """A Meta pixel (the Conversions API) or a Google Ads conversion action (Data Manager events) that opt-ins and
    purchases are reported to, through a connection."""

    name = models.CharField(max_length=200)
    connection = models.ForeignKey(
        Connection,
        on_delete=models.PROTECT,
        related_name="conversion_destinations",
        limit_choices_to={"platform__in": CONVERSION_PLATFORMS},
        help_text="The Meta or Google account reported to, and the credentials that reach it.",
    )
    remote_id = models.CharField(
        max_length=100, help_text="Meta: the pixel (dataset) id. Google: the conversion action id."
    )
    test_event_code = models.CharField(
        max_length=50, blank=True, help_text="Meta: send to Events Manager's Test Events under this code."
    )
    send_leads = models.BooleanField(default=True, help_text="Report opt-ins (Lead).")
    send_purchases = models.BooleanField(default=True, help_text="Report purchases (Purchase) with their value.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.connection.get_platform_display()})"

    @property
    def platform(self) -> str:
        return self.connection.platform

    def clean(self) -> None:
        if not self.remote_id.strip().isdigit():
            raise ValidationError({"remote_id": "Enter the pixel's number, or the conversion action's id."})
        if self.connection_id and self.connection.platform not in CONVERSION_PLATFORMS:
            raise ValidationError({"connection": "Conversions are reported to a Meta or a Google connection."})


class ConversionDelivery(models.Model):
    """One conversion for one destination: sent (with the platform's reference), dropped with why, or failed."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        DROPPED = "dropped", "Dropped"
        FAILED = "failed", "Failed"

    destination = models.ForeignKey(ConversionDestination, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey("leads.Event", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=500, blank=True, help_text="Why it was dropped or failed; never identifiers.")
    reference = models.CharField(max_length=100, blank=True, help_text="Meta's fbtrace id or Google's request id.")
    client = models.JSONField(default=dict, blank=True, help_text="Cleared once the conversion is sent or dropped.")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["destination", "event"], name="conversion_delivery_once")]
        indexes = [
            models.Index(
                fields=["destination", "next_attempt_at"],
                condition=Q(status="pending"),
                name="conversion_delivery_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_id} to {self.destination_id}: {self.status}"
