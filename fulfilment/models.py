"""What buyers get for what they paid: each offer's deliverables (files, links, text), each buyer's access to them
(granted when a line is paid, revoked when it is refunded in full), and every download, so support can answer
"I never got it"."""

from __future__ import annotations

import secrets
import uuid

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from common.fields import URLField
from common.storage import private_storage
from offers.models import Offer, OrderLine


class Deliverable(models.Model):
    class Kind(models.TextChoices):
        FILE = "file", "A file to download"
        LINK = "link", "A link (a course, a community, a calendar)"
        TEXT = "text", "Text (instructions, a licence key)"

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="deliverables")
    title = models.CharField(max_length=200, help_text="As the buyer sees it, e.g. “The e-book (PDF)”.")
    kind = models.CharField(max_length=4, choices=Kind.choices, default=Kind.FILE)
    file = models.FileField(upload_to="deliverables/%Y/%m/", storage=private_storage, blank=True, max_length=300)
    version = models.PositiveIntegerField(default=1, editable=False, help_text="Raised with each new file.")
    url = URLField(max_length=500, blank=True)
    text = models.TextField(
        blank=True,
        help_text="Shown in the buyer's library. {key} becomes a key of the buyer's own (a licence key), {order} "
        "the order's number.",
    )
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True, help_text="Off: no longer given to new buyers or shown.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["offer", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="link", url__gt="") | Q(kind="file", file__gt="") | Q(kind="text", text__gt=""),
                name="deliverable_has_its_content",
            )
        ]

    def __str__(self) -> str:
        return self.title


def _key() -> str:
    raw = secrets.token_hex(10).upper()
    return "-".join(raw[i : i + 5] for i in range(0, 20, 5))


class Access(models.Model):
    """A buyer's right to one deliverable through one paid order line."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="+")
    order_line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="+")
    deliverable = models.ForeignKey(Deliverable, on_delete=models.CASCADE, related_name="accesses")
    key = models.CharField(max_length=30, default=_key, editable=False, help_text="The buyer's own key ({key}).")
    granted_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_because = models.CharField(max_length=200, blank=True)
    downloads = models.PositiveIntegerField(default=0)
    last_download_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-granted_at", "-id"]
        verbose_name_plural = "accesses"
        constraints = [models.UniqueConstraint(fields=["order_line", "deliverable"], name="access_once_per_line")]
        indexes = [models.Index(fields=["lead", "-granted_at"], name="access_lead_time")]

    def __str__(self) -> str:
        return f"{self.deliverable} for {self.lead_id}"


class Download(models.Model):
    """One download or opening: when, from where (a keyed hash of the address, never the address), which version."""

    access = models.ForeignKey(Access, on_delete=models.CASCADE, related_name="download_log")
    at = models.DateTimeField()
    ip_hash = models.CharField(max_length=64)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.access_id} at {self.at}"


class FulfilmentSettings(models.Model):
    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    revoke_on_refund = models.BooleanField(
        default=True, help_text="A line refunded in full (or lost in a dispute) loses its access."
    )
    link_hours = models.PositiveSmallIntegerField(
        default=72,
        validators=[MinValueValidator(1), MaxValueValidator(720)],
        help_text="How long a download link in an e-mail works (1–720 hours); the library makes new ones.",
    )

    class Meta:
        verbose_name_plural = "fulfilment settings"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="fulfilment_settings_single")]

    def __str__(self) -> str:
        return "Fulfilment settings"


class FulfilmentCursor(models.Model):
    """How far fulfilment has read the event log."""

    name = models.CharField(max_length=40, primary_key=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.position}"


class FulfilmentGap(models.Model):
    event_id = models.BigIntegerField(primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return str(self.event_id)


class LibrarySignIn(models.Model):
    """A one-time sign-in link to the customer library: used once, within its time."""

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"sign-in for {self.lead_id}"


class BuyerEmail(models.Model):
    """A receipt or a refund confirmation to send: written in the transaction that read its cause from the event log,
    once per payment or refund (``key``), and sent by ``fulfilment.emails_send`` with retries. Its content is built
    when it is sent, from the order as it stands."""

    class Kind(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        REFUND = "refund", "Refund confirmation"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        DROPPED = "dropped", "Dropped"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    key = models.CharField(max_length=120, unique=True)
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey("offers.Order", on_delete=models.CASCADE, related_name="+")
    payment = models.ForeignKey("offers.Payment", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    refund = models.ForeignKey("offers.Refund", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True, help_text="As the mail provider reports it.")
    opened_at = models.DateTimeField(null=True, blank=True, help_text="First opening the provider reported.")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="buyer_email_due")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for order {self.order_id}: {self.status}"


class ReceiptStyle(models.Model):
    """How a funnel's receipts look and open: the marketer's words around the lines Ladder writes (what was bought,
    amounts, links, how to ask for a refund). One without a funnel is the default for every funnel without its own.
    Placeholders: {first_name}, {merchant}, {order}, {product}."""

    funnel = models.OneToOneField(
        "funnels.Funnel",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty: the default for every funnel without a style of its own.",
    )
    subject = models.CharField(max_length=200, default="Your receipt from {merchant} (order {order})")
    intro = models.TextField(
        default="Hi {first_name}, thank you for your order. This is your receipt.",
        help_text="Above the lines bought. {first_name} falls back to “there”.",
    )
    closing = models.TextField(blank=True, help_text="Below the links, above how to ask for a refund.")
    accent = models.CharField(
        max_length=7,
        default="#2563eb",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour such as #2563eb.")],
        help_text="Headings and links in the HTML e-mail.",
    )
    logo_url = URLField(max_length=500, blank=True, help_text="An https image shown at the top of the HTML e-mail.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["funnel"], name="receipt_style_one_per_funnel")]

    def __str__(self) -> str:
        return f"Receipts of funnel {self.funnel_id}" if self.funnel_id else "Receipts (default)"
