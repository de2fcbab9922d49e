"""What money did: payments (one Stripe PaymentIntent each), refunds, disputes, the Stripe events that reported them,
and buyers' refund requests."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from common.fields import CurrencyField
from common.money import format_money
from offers.models import _CURRENCY_FORMAT, Offer, Order


class Payment(models.Model):
    """One Stripe PaymentIntent. Its status mirrors Stripe's; the webhook is the source of truth.

    A payment is recorded (``pending``, with its idempotency key) before Stripe is asked, so a crash, a retry
    or a double click reaches Stripe as the same request. ``offer`` is set on a payment that buys one more
    offer for a paid order (a one-click upsell, or its checkout once the one-click window has passed): its
    order line is added when the payment succeeds.
    """

    class Kind(models.TextChoices):
        CHECKOUT = "checkout", "Checkout (card entered)"
        ONE_CLICK = "one_click", "One click (saved card)"

    class Status(models.TextChoices):
        PENDING = "pending", "Recorded, not yet accepted by Stripe"
        REQUIRES_PAYMENT_METHOD = "requires_payment_method", "Requires payment method"
        REQUIRES_CONFIRMATION = "requires_confirmation", "Requires confirmation"
        REQUIRES_ACTION = "requires_action", "Requires action (3-D Secure)"
        PROCESSING = "processing", "Processing"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="payments")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CHECKOUT)
    offer = models.ForeignKey(
        Offer, null=True, blank=True, on_delete=models.PROTECT, related_name="payments", help_text="Add-on offer."
    )
    idempotency_key = models.CharField(max_length=255, null=True, blank=True, unique=True, editable=False)
    stripe_payment_intent_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    stripe_payment_method_id = models.CharField(max_length=100, blank=True)
    amount_minor = models.BigIntegerField()
    currency = CurrencyField()
    status = models.CharField(max_length=30, choices=Status.choices)
    failure_code = models.CharField(max_length=100, blank=True)
    failure_message = models.CharField(max_length=255, blank=True, help_text="What the buyer was told.")
    # The funnel page the charge was made from (plain ids: offers sits below funnels), so the purchase it becomes
    # is credited to that step, split-test variant and visitor however late Stripe confirms it.
    visitor_id = models.UUIDField(null=True, blank=True, editable=False)
    step_id = models.BigIntegerField(null=True, blank=True, editable=False)
    variant_id = models.BigIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(condition=_CURRENCY_FORMAT, name="payment_currency_iso"),
        ]

    def __str__(self) -> str:
        return self.stripe_payment_intent_id or f"payment {self.pk} ({self.get_status_display().lower()})"

    @property
    def refunded_minor(self) -> int:
        return sum(refund.amount_minor for refund in self.refunds.all())


class Refund(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    stripe_refund_id = models.CharField(max_length=100, unique=True)
    amount_minor = models.BigIntegerField()
    currency = CurrencyField()
    reason = models.CharField(max_length=100, blank=True)
    allocation = models.JSONField(
        default=list, blank=True, editable=False, help_text="How much of the refund each order line bore."
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(condition=_CURRENCY_FORMAT, name="refund_currency_iso"),
        ]

    def __str__(self) -> str:
        return self.stripe_refund_id


class Dispute(models.Model):
    """A chargeback the buyer's bank opened on a payment. Money leaves the order's net only when it is lost."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        WON = "won", "Won"
        LOST = "lost", "Lost"

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="disputes")
    stripe_dispute_id = models.CharField(max_length=100, unique=True)
    amount_minor = models.BigIntegerField()
    currency = CurrencyField()
    reason = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=5, choices=Status.choices, default=Status.OPEN)
    allocation = models.JSONField(
        default=list, blank=True, editable=False, help_text="How much of a lost dispute each order line bore."
    )
    created_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="dispute_amount_positive"),
            models.CheckConstraint(condition=_CURRENCY_FORMAT, name="dispute_currency_iso"),
        ]

    def __str__(self) -> str:
        return self.stripe_dispute_id


class StripeEvent(models.Model):
    """A verified Stripe webhook, stored once (unique event id) and processed once by a task."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (a type Ladder does not act on)"
        FAILED = "failed", "Failed"

    stripe_event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=100)
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["status", "received_at"], name="stripe_event_status")]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_event_id}"


class RefundRequest(models.Model):
    """A refund a person asked for in the admin, sent to Stripe by a retried task (the outbox of refunds)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Sending to Stripe"
        SUCCEEDED = "succeeded", "Refunded"
        FAILED = "failed", "Refused"

    class Reason(models.TextChoices):
        REQUESTED_BY_CUSTOMER = "requested_by_customer", "Requested by the customer"
        DUPLICATE = "duplicate", "Duplicate charge"
        FRAUDULENT = "fraudulent", "Fraudulent"

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refund_requests")
    amount_minor = models.BigIntegerField()
    currency = CurrencyField()
    reason = models.CharField(max_length=30, choices=Reason.choices, default=Reason.REQUESTED_BY_CUSTOMER)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    refund = models.OneToOneField(Refund, null=True, blank=True, on_delete=models.PROTECT, related_name="request")
    requested_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="refund_request_amount_positive"),
            models.CheckConstraint(condition=_CURRENCY_FORMAT, name="refund_request_currency_iso"),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="refund_request_status")]

    def __str__(self) -> str:
        return f"Refund of {format_money(self.amount_minor, self.currency)} ({self.get_status_display().lower()})"
