from __future__ import annotations

import uuid

from django.core.validators import FileExtensionValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper

from common.fields import CurrencyField, URLField
from common.money import format_money

_CURRENCY_FORMAT: Q = Q(currency__regex=r"^[A-Z]{3}$")


class Product(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Offer(models.Model):
    """What is sold, at what price, in which place on the ladder."""

    class Role(models.TextChoices):
        LEAD_MAGNET = "lead_magnet", "Lead magnet"
        TRIPWIRE = "tripwire", "Tripwire"
        CORE = "core", "Core offer"
        UPSELL = "upsell", "Upsell"
        DOWNSELL = "downsell", "Downsell"
        CROSS_SELL = "cross_sell", "Cross-sell"
        ORDER_BUMP = "order_bump", "Order bump"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="offers")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    role = models.CharField(max_length=20, choices=Role.choices)
    amount_minor = models.BigIntegerField(
        validators=[MinValueValidator(0)], help_text="Price in minor units: 700 is $7.00, 700 is ¥700."
    )
    currency = CurrencyField(default="USD")
    asset_file = models.FileField(
        upload_to="lead-magnets/",
        blank=True,
        validators=[FileExtensionValidator(["pdf", "epub", "zip", "mp3", "mp4", "png", "jpg"])],
        help_text="What a lead magnet delivers: a file…",
    )
    asset_url = URLField(max_length=500, blank=True, help_text="…or a link.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["product__name", "amount_minor"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gte=0), name="offer_amount_non_negative"),
            models.CheckConstraint(condition=_CURRENCY_FORMAT, name="offer_currency_iso"),
            models.CheckConstraint(
                condition=~Q(role="lead_magnet") | Q(amount_minor=0), name="offer_lead_magnet_is_free"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.price_display})"

    @property
    def price_display(self) -> str:
        return "free" if self.amount_minor == 0 else format_money(self.amount_minor, self.currency)


class Coupon(models.Model):
    """A discount code. ``redemptions_count`` is only ever raised by a conditional UPDATE (see coupon_redeem)."""

    class Kind(models.TextChoices):
        PERCENT = "percent", "Percent off"
        FIXED = "fixed", "Fixed amount off"

    code = models.CharField(max_length=40, unique=True, help_text="Stored in capitals; codes are case-insensitive.")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    percent_off = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1–100, for percent coupons.")
    amount_off_minor = models.BigIntegerField(null=True, blank=True, help_text="Minor units, for fixed coupons.")
    currency = CurrencyField(blank=True)
    offers = models.ManyToManyField(Offer, blank=True, related_name="coupons", help_text="Empty: every offer.")
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    max_redemptions = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    redemptions_count = models.PositiveIntegerField(default=0, editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(code=Upper("code")), name="coupon_code_upper"),
            models.CheckConstraint(
                condition=(
                    Q(kind="percent", percent_off__gte=1, percent_off__lte=100, amount_off_minor__isnull=True)
                    | Q(kind="fixed", amount_off_minor__gt=0, percent_off__isnull=True) & _CURRENCY_FORMAT
                ),
                name="coupon_discount_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(max_redemptions__isnull=True) | Q(redemptions_count__lte=F("max_redemptions")),
                name="coupon_redemptions_within_max",
            ),
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True) | Q(valid_until__isnull=True) | Q(valid_until__gt=F("valid_from")),
                name="coupon_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def discount_display(self) -> str:
        if self.kind == self.Kind.PERCENT:
            return f"{self.percent_off}% off"
        return f"{format_money(self.amount_off_minor or 0, self.currency)} off"


class Order(models.Model):
    """The lines one buyer bought in one pass through a funnel: main offer, bumps, accepted upsells."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending payment"
        PAID = "paid", "Paid"
        FAILED = "failed", "Payment failed"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"
        CANCELED = "canceled", "Canceled"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    lead = models.ForeignKey("leads.Lead", on_delete=models.PROTECT, related_name="orders")
    funnel_id = models.BigIntegerField(null=True, blank=True, help_text="The funnel the order was placed in.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    currency = CurrencyField()
    subtotal_minor = models.BigIntegerField(default=0)
    discount_minor = models.BigIntegerField(default=0)
    total_minor = models.BigIntegerField(default=0)
    refunded_minor = models.BigIntegerField(default=0)
    chargeback_minor = models.BigIntegerField(default=0, help_text="Taken back by disputes the seller lost.")
    coupon = models.ForeignKey(Coupon, null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    stripe_customer_id = models.CharField(max_length=100, blank=True)
    client = models.JSONField(
        default=dict, blank=True, help_text="The buyer's browser at checkout (for server-side conversions); erasable."
    )
    submission_key = models.CharField(
        max_length=100, null=True, blank=True, unique=True, editable=False, help_text="One order per form submission."
    )
    created_at = models.DateTimeField(db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=_CURRENCY_FORMAT, name="order_currency_iso"),
            models.CheckConstraint(
                condition=Q(subtotal_minor__gte=0, discount_minor__gte=0, total_minor__gte=0, refunded_minor__gte=0),
                name="order_amounts_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(total_minor=F("subtotal_minor") - F("discount_minor")), name="order_total_is_net"
            ),
            models.CheckConstraint(condition=Q(refunded_minor__lte=F("total_minor")), name="order_refund_within_total"),
            models.CheckConstraint(
                condition=Q(chargeback_minor__gte=0, chargeback_minor__lte=F("total_minor") - F("refunded_minor")),
                name="order_chargeback_within_total",
            ),
        ]
        indexes = [models.Index(fields=["lead", "status"], name="order_lead_status")]

    def __str__(self) -> str:
        return f"Order {str(self.public_id)[:8]}"

    @property
    def net_minor(self) -> int:
        """What the seller keeps: charged, less refunds and lost disputes."""
        return self.total_minor - self.refunded_minor - self.chargeback_minor


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    payment = models.ForeignKey(
        "Payment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="lines",
        help_text="The charge that paid for this line (an upsell is its own charge).",
    )
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="order_lines")
    role = models.CharField(max_length=20, choices=Offer.Role.choices, help_text="The offer's role when sold.")
    description = models.CharField(max_length=200)
    amount_minor = models.BigIntegerField(help_text="The offer's price when sold, before any coupon.")
    discount_minor = models.BigIntegerField(default=0, help_text="The coupon's share of this line.")
    refunded_minor = models.BigIntegerField(default=0, help_text="Refunds allocated to this line.")
    chargeback_minor = models.BigIntegerField(default=0, help_text="Lost disputes allocated to this line.")
    currency = CurrencyField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "offer"], name="order_line_offer_once"),
            models.CheckConstraint(condition=Q(amount_minor__gte=0), name="order_line_amount_non_negative"),
            models.CheckConstraint(
                condition=Q(
                    discount_minor__gte=0,
                    discount_minor__lte=F("amount_minor"),
                    refunded_minor__gte=0,
                    chargeback_minor__gte=0,
                    refunded_minor__lte=F("amount_minor") - F("discount_minor") - F("chargeback_minor"),
                ),
                name="order_line_amounts_within_charge",
            ),
            models.CheckConstraint(condition=_CURRENCY_FORMAT, name="order_line_currency_iso"),
        ]

    def __str__(self) -> str:
        return f"{self.description} {format_money(self.amount_minor, self.currency)}"

    @property
    def charged_minor(self) -> int:
        """What the buyer paid for this line: its price less its share of the coupon."""
        return self.amount_minor - self.discount_minor

    @property
    def net_minor(self) -> int:
        return self.charged_minor - self.refunded_minor - self.chargeback_minor


class CouponRedemption(models.Model):
    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="redemptions")
    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="coupon_redemption")
    discount_minor = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(discount_minor__gte=0), name="coupon_redemption_non_negative")
        ]

    def __str__(self) -> str:
        return f"{self.coupon} on {self.order}"


# What money did for an order lives beside it; imported here so the app sees them as its models.
from offers.models.payments import Dispute, Payment, Refund, RefundRequest, StripeEvent  # noqa: E402

__all__ = [
    "Coupon",
    "CouponRedemption",
    "Dispute",
    "Offer",
    "Order",
    "OrderLine",
    "Payment",
    "Product",
    "Refund",
    "RefundRequest",
    "StripeEvent",
]
