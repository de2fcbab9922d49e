"""Charging through Stripe: the order-form checkout, one-click offers on the saved card, and refunds.

Every charge is recorded as a ``Payment`` with its idempotency key *before* Stripe is asked, and the key is
derived from what is being bought (the order, or the order and the offer), so a double click, a reload, the
library's own retries or a retry after a crash all reach Stripe as one request and charge once. Success is
applied by ``payment_succeeded`` — from the webhook, or at once when Stripe answers a one-click charge — and
applying it twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from common.errors import ApplicationError
from common.money import Money
from common.tasks import enqueue_on_commit
from integrations.errors import IntegrationPermanentError, IntegrationTransientError
from integrations.stripe.gateway import AuthenticationRequired, CardDeclined, StripeGateway
from leads.contracts import ClientContext, EventRefs
from leads.models import Event, Lead
from leads.services import event_record
from offers.models import Coupon, Dispute, Offer, Order, OrderLine, Payment, Refund, RefundRequest
from offers.services import order_create, refund_record

UNREACHABLE = "We could not reach the payment provider, so nothing was charged. Please try again in a moment."


def payments_enabled() -> bool:
    return bool(settings.STRIPE_SECRET_KEY and settings.STRIPE_PUBLISHABLE_KEY)


def stripe_gateway() -> StripeGateway:
    return StripeGateway(
        api_key=settings.STRIPE_SECRET_KEY,
        api_base=settings.STRIPE_API_BASE,
        max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
        connect_timeout=settings.STRIPE_CONNECT_TIMEOUT,
        read_timeout=settings.STRIPE_READ_TIMEOUT,
    )


def _metadata(payment: Payment) -> dict[str, str]:
    data = {"order": str(payment.order.public_id), "payment": str(payment.pk), "kind": payment.kind}
    if payment.offer_id:
        data["offer"] = str(payment.offer_id)
    return data


def _customer_for(order: Order, gateway: StripeGateway) -> str:
    """The lead's Stripe customer: the one an earlier order made, or a new one (keyed by the lead)."""
    if order.stripe_customer_id:
        return order.stripe_customer_id
    earlier = (
        Order.objects.filter(lead_id=order.lead_id)
        .exclude(stripe_customer_id="")
        .values_list("stripe_customer_id", flat=True)
    ).first()
    lead = order.lead
    customer_id = earlier or gateway.customer_create(
        email=lead.email,
        name=lead.full_name,
        lead_ref=str(lead.public_id),
        idempotency_key=f"customer:{lead.public_id}",
    )
    Order.objects.filter(pk=order.pk).update(stripe_customer_id=customer_id)
    order.stripe_customer_id = customer_id
    return customer_id


@dataclass(frozen=True, kw_only=True, slots=True)
class PageOrigin:
    """The funnel page a charge is made from: its visitor, step and split-test variant. Kept on the payment so the
    purchase it becomes (whenever Stripe confirms it) is credited to them."""

    visitor_id: uuid.UUID | None = None
    step_id: int | None = None
    variant_id: int | None = None

    def as_fields(self) -> dict[str, object]:
        return {"visitor_id": self.visitor_id, "step_id": self.step_id, "variant_id": self.variant_id}


# --- checkout: the buyer types the card on the page -------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckoutStarted:
    order: Order
    payment: Payment
    client_secret: str
    total: Money


def coupon_for_code(code: str) -> Coupon | None:
    code = code.strip().upper()
    if not code:
        return None
    coupon = Coupon.objects.filter(code=code).first()
    if coupon is None:
        raise ApplicationError(f"There is no coupon {code}.", field="coupon")
    return coupon


def checkout_start(
    *,
    lead: Lead,
    offers: list[Offer],
    funnel_id: int | None,
    coupon_code: str,
    submission_key: str,
    client: ClientContext | None = None,
    origin: PageOrigin | None = None,
) -> CheckoutStarted:
    """Order ``offers`` (the main offer and any ticked bump) for ``lead`` and open a PaymentIntent for it.

    The total comes from the offers and the coupon here, never from the page. A repeated submission (the same
    ``submission_key``) gets the same order and PaymentIntent back.
    """
    payment = checkout_record(
        lead=lead,
        offers=offers,
        funnel_id=funnel_id,
        coupon_code=coupon_code,
        submission_key=submission_key,
        client=client,
        origin=origin,
    )
    return _checkout_intent(payment)


def checkout_record(
    *,
    lead: Lead,
    offers: list[Offer],
    funnel_id: int | None,
    coupon_code: str,
    submission_key: str,
    client: ClientContext | None = None,
    origin: PageOrigin | None = None,
    at: dt.datetime | None = None,
) -> Payment:
    """The order and its pending checkout payment, recorded before Stripe is asked (``at``: when, if not now). A
    repeated submission (the same ``submission_key``) gets the same payment back."""
    existing = Order.objects.filter(submission_key=submission_key).first()
    if existing is not None:
        return existing.payments.get(kind=Payment.Kind.CHECKOUT, offer__isnull=True)
    with transaction.atomic():
        order = order_create(
            lead=lead, offers=offers, funnel_id=funnel_id, coupon=coupon_for_code(coupon_code), created_at=at
        )
        if order.total_minor == 0:
            raise ApplicationError(
                "This coupon makes the order free; a paid step cannot take a free order.", field="coupon"
            )
        order.submission_key = submission_key
        order.client = client.as_dict() if client else {}
        order.save(update_fields=["submission_key", "client"])
        payment = Payment.objects.create(
            order=order,
            kind=Payment.Kind.CHECKOUT,
            idempotency_key=f"checkout:{order.public_id}",
            amount_minor=order.total_minor,
            currency=order.currency,
            status=Payment.Status.PENDING,
            created_at=at or timezone.now(),
            **(origin or PageOrigin()).as_fields(),
        )
        order.lines.update(payment=payment)
    return payment


def addon_checkout_start(*, order: Order, offer: Offer, origin: PageOrigin | None = None) -> CheckoutStarted:
    """Once the one-click window has passed, an upsell is bought by typing the card again: one more payment on
    the same order, whose line is added when it succeeds."""
    _check_addon(order, offer)
    payment = addon_payment_record(order=order, offer=offer, kind=Payment.Kind.CHECKOUT, origin=origin)
    return _checkout_intent(payment)


def _checkout_intent(payment: Payment) -> CheckoutStarted:
    order = payment.order
    if payment.status == Payment.Status.SUCCEEDED:
        raise ApplicationError("This order is already paid.")
    try:
        gateway = stripe_gateway()
        intent = gateway.checkout_intent_create(
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            customer_id=_customer_for(order, gateway),
            metadata=_metadata(payment),
            idempotency_key=payment.idempotency_key or f"checkout:{order.public_id}",
        )
    except IntegrationTransientError:
        raise ApplicationError(UNREACHABLE) from None
    except IntegrationPermanentError as error:
        raise ApplicationError(f"The payment could not be started: {error}") from None
    Payment.objects.filter(pk=payment.pk, status=Payment.Status.PENDING).update(
        stripe_payment_intent_id=intent.id, status=Payment.Status.REQUIRES_PAYMENT_METHOD
    )
    payment.refresh_from_db()
    return CheckoutStarted(
        order=order,
        payment=payment,
        client_secret=intent.client_secret,
        total=Money(payment.amount_minor, payment.currency),
    )


# --- one click: the saved card is charged again ----------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class OneClick:
    outcome: Literal["succeeded", "declined", "authentication_required", "expired"]
    payment: Payment | None = None
    message: str = ""
    client_secret: str = ""
    payment_method_id: str = ""


def one_click_window_open(order: Order, now: dt.datetime | None = None) -> bool:
    if order.paid_at is None or not order.stripe_customer_id:
        return False
    window = dt.timedelta(minutes=settings.ONE_CLICK_WINDOW_MINUTES)
    return (now or timezone.now()) - order.paid_at <= window and _saved_card(order) != ""


def _saved_card(order: Order) -> str:
    return (
        order.payments.filter(status=Payment.Status.SUCCEEDED)
        .exclude(stripe_payment_method_id="")
        .order_by("created_at")
        .values_list("stripe_payment_method_id", flat=True)
        .first()
        or ""
    )


def _check_addon(order: Order, offer: Offer) -> None:
    if order.status not in (Order.Status.PAID, Order.Status.PARTIALLY_REFUNDED):
        raise ApplicationError("This order is not paid, so nothing can be added to it.")
    if offer.currency != order.currency:
        raise ApplicationError(f"{offer.name} is priced in {offer.currency}; this order is in {order.currency}.")
    if offer.amount_minor <= 0:
        raise ApplicationError(f"{offer.name} is free; there is nothing to charge.")


def addon_payment_record(
    *, order: Order, offer: Offer, kind: str, origin: PageOrigin | None = None, at: dt.datetime | None = None
) -> Payment:
    """The pending payment that buys ``offer`` for a paid order, recorded once per (order, offer, kind)."""
    key = f"{'one-click' if kind == Payment.Kind.ONE_CLICK else 'checkout'}:{order.public_id}:{offer.pk}"
    try:
        with transaction.atomic():
            return Payment.objects.create(
                order=order,
                kind=kind,
                offer=offer,
                idempotency_key=key,
                amount_minor=offer.amount_minor,
                currency=offer.currency,
                status=Payment.Status.PENDING,
                created_at=at or timezone.now(),
                **(origin or PageOrigin()).as_fields(),
            )
    except IntegrityError:  # a double click: the first request recorded it
        return Payment.objects.select_related("order__lead").get(idempotency_key=key)


def one_click_buy(*, order: Order, offer: Offer, origin: PageOrigin | None = None) -> OneClick:
    """Charge ``offer`` to the card saved at checkout, once, whatever happens in between."""
    if order.lines.filter(offer=offer).exists():
        return OneClick(outcome="succeeded", payment=order.payments.filter(offer=offer).first())
    _check_addon(order, offer)
    if not one_click_window_open(order):
        return OneClick(outcome="expired")
    payment = addon_payment_record(order=order, offer=offer, kind=Payment.Kind.ONE_CLICK, origin=origin)
    if payment.status == Payment.Status.SUCCEEDED:
        return OneClick(outcome="succeeded", payment=payment)
    if payment.status == Payment.Status.FAILED:
        return OneClick(outcome="declined", payment=payment, message=payment.failure_message)
    try:
        intent = stripe_gateway().off_session_charge(
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            customer_id=order.stripe_customer_id,
            payment_method_id=_saved_card(order),
            metadata=_metadata(payment),
            idempotency_key=payment.idempotency_key or "",
        )
    except AuthenticationRequired as needed:
        Payment.objects.filter(pk=payment.pk).exclude(status=Payment.Status.SUCCEEDED).update(
            stripe_payment_intent_id=needed.payment_intent_id or None,
            status=Payment.Status.REQUIRES_ACTION,
            failure_code="authentication_required",
        )
        return OneClick(
            outcome="authentication_required",
            payment=payment,
            client_secret=needed.client_secret,
            payment_method_id=needed.payment_method_id,
        )
    except CardDeclined as declined:
        Payment.objects.filter(pk=payment.pk).exclude(status=Payment.Status.SUCCEEDED).update(
            stripe_payment_intent_id=declined.payment_intent_id or None,
            status=Payment.Status.FAILED,
            failure_code=(declined.decline_code or declined.code)[:100],
            failure_message=declined.message[:255],
        )
        return OneClick(outcome="declined", payment=payment, message=declined.message)
    except IntegrationTransientError:
        raise ApplicationError(UNREACHABLE) from None
    except IntegrationPermanentError as error:
        raise ApplicationError(f"The payment could not be made: {error}") from None
    if intent.status == "succeeded":
        payment = payment_succeeded(
            payment=payment,
            intent_id=intent.id,
            amount_minor=intent.amount,
            payment_method_id=intent.payment_method_id,
            customer_id=intent.customer_id,
        )
        return OneClick(outcome="succeeded", payment=payment)
    Payment.objects.filter(pk=payment.pk, status=Payment.Status.PENDING).update(
        stripe_payment_intent_id=intent.id, status=Payment.Status.PROCESSING
    )
    return OneClick(outcome="succeeded", payment=payment)


# --- success, from the webhook or from Stripe's answer ---------------------------------------------------


@transaction.atomic
def payment_succeeded(
    *,
    payment: Payment,
    intent_id: str,
    amount_minor: int,
    payment_method_id: str = "",
    customer_id: str = "",
    at: dt.datetime | None = None,
) -> Payment:
    """Apply a succeeded PaymentIntent once: the payment, its order line for an add-on, the order paid, and one
    ``purchase`` event per line it paid for. ``at`` is when it succeeded (now, unless history is being replayed)."""
    payment = Payment.objects.select_for_update(of=("self",)).select_related("order__lead", "offer").get(pk=payment.pk)
    order = payment.order
    already = payment.status == Payment.Status.SUCCEEDED
    if not already:
        payment.status = Payment.Status.SUCCEEDED
        payment.stripe_payment_intent_id = intent_id
        payment.stripe_payment_method_id = payment_method_id or payment.stripe_payment_method_id
        payment.failure_code = payment.failure_message = ""
        payment.save()
        if customer_id and not order.stripe_customer_id:
            Order.objects.filter(pk=order.pk).update(stripe_customer_id=customer_id)
        now = at or timezone.now()
        if payment.offer is not None:
            _addon_line(payment, payment.offer, now)
        Order.objects.filter(pk=order.pk, status__in=[Order.Status.PENDING, Order.Status.FAILED]).update(
            status=Order.Status.PAID, paid_at=now
        )
    purchase_events_record(payment=payment, occurred_at=at)
    return payment


def _addon_line(payment: Payment, offer: Offer, now: dt.datetime) -> None:
    order = payment.order
    _, created = OrderLine.objects.get_or_create(
        order=order,
        offer=offer,
        defaults={
            "payment": payment,
            "role": offer.role,
            "description": offer.name,
            "amount_minor": payment.amount_minor,
            "currency": payment.currency,
            "created_at": now,
        },
    )
    if created:
        Order.objects.filter(pk=order.pk).update(
            subtotal_minor=F("subtotal_minor") + payment.amount_minor,
            total_minor=F("total_minor") + payment.amount_minor,
        )


def purchase_events_record(*, payment: Payment, occurred_at: dt.datetime | None = None) -> None:
    """One ``purchase`` event per line ``payment`` paid for, with what was charged for it after the coupon, credited
    to the page the charge was made from (step, split-test variant, visitor)."""
    order = payment.order
    for line in payment.lines.all():
        event_record(
            type=Event.Type.PURCHASE,
            idempotency_key=f"purchase:{order.pk}:{line.offer_id}",
            occurred_at=occurred_at,
            lead=order.lead,
            visitor_id=payment.visitor_id,
            refs=EventRefs(
                funnel_id=order.funnel_id,
                step_id=payment.step_id,
                variant_id=payment.variant_id,
                offer_id=line.offer_id,
                order_id=order.pk,
            ),
            properties={
                "amount_minor": line.charged_minor,
                "list_amount_minor": line.amount_minor,
                "currency": line.currency,
                "role": line.role,
                "line": line.pk,
            },
            client=order.client,
        )


def payment_failed(*, payment: Payment, code: str, message: str = "") -> None:
    Payment.objects.filter(pk=payment.pk).exclude(status=Payment.Status.SUCCEEDED).update(
        status=Payment.Status.FAILED, failure_code=code[:100], failure_message=message[:255]
    )


# --- refunds asked for in the admin ---------------------------------------------------------------------


def refundable_minor(payment: Payment) -> int:
    pending = sum(r.amount_minor for r in payment.refund_requests.all() if r.status == RefundRequest.Status.PENDING)
    return payment.amount_minor - payment.refunded_minor - pending


@transaction.atomic
def refund_request_create(*, payment: Payment, amount_minor: int, reason: str, requested_by: str) -> RefundRequest:
    """Record a refund to send (the task sends it after commit); refused when more than is left is asked."""
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.status != Payment.Status.SUCCEEDED or not payment.stripe_payment_intent_id:
        raise ApplicationError("Only a succeeded payment can be refunded.", field="payment")
    left = refundable_minor(payment)
    if amount_minor <= 0:
        raise ApplicationError("A refund must be more than zero.", field="amount")
    if amount_minor > left:
        raise ApplicationError(
            f"At most {Money(max(left, 0), payment.currency)} of this payment can still be refunded.", field="amount"
        )
    request = RefundRequest.objects.create(
        payment=payment, amount_minor=amount_minor, currency=payment.currency, reason=reason, requested_by=requested_by
    )
    from offers import tasks  # the task module imports this one

    enqueue_on_commit(tasks.refund_request_send, refund_request_pk=request.pk)
    return request


def refund_request_send(*, request: RefundRequest) -> RefundRequest:
    """Send one pending refund to Stripe (same idempotency key every time) and record what Stripe did.

    Transient failures raise IntegrationTransientError so the task retries; a refusal is kept with Stripe's reason.
    """
    if request.status != RefundRequest.Status.PENDING:
        return request
    payment = request.payment
    RefundRequest.objects.filter(pk=request.pk).update(attempts=F("attempts") + 1)
    try:
        result = stripe_gateway().refund_create(
            payment_intent_id=payment.stripe_payment_intent_id or "",
            amount_minor=request.amount_minor,
            currency=request.currency,
            reason=request.reason,
            metadata={"order": str(payment.order.public_id), "refund_request": str(request.pk)},
            idempotency_key=f"refund-request:{request.pk}",
        )
    except IntegrationTransientError:
        raise
    except IntegrationPermanentError as error:
        RefundRequest.objects.filter(pk=request.pk).update(
            status=RefundRequest.Status.FAILED, error=str(error)[:500], completed_at=timezone.now()
        )
        request.refresh_from_db()
        return request
    with transaction.atomic():
        try:
            refund = refund_record(
                payment=payment, stripe_refund_id=result.id, amount_minor=result.amount, reason=request.reason
            )
        except ApplicationError as refused:
            RefundRequest.objects.filter(pk=request.pk).update(
                status=RefundRequest.Status.FAILED, error=refused.message[:500], completed_at=timezone.now()
            )
        else:
            refund_event_record(refund=refund)
            RefundRequest.objects.filter(pk=request.pk).update(
                status=RefundRequest.Status.SUCCEEDED, refund=refund, completed_at=timezone.now()
            )
    request.refresh_from_db()
    return request


def refund_event_record(*, refund: Refund) -> None:
    """One ``refund`` event per order line the refund took money from, carrying that line's offer and share."""
    _money_back_events(
        type=Event.Type.REFUND,
        key=f"refund:{refund.stripe_refund_id}",
        payment=refund.payment,
        allocation=refund.allocation,
        currency=refund.currency,
        occurred_at=refund.created_at,
        extra={"reason": refund.reason} if refund.reason else {},
    )


def dispute_opened_record(*, dispute: Dispute) -> None:
    """A ``dispute_opened`` custom event for the lead's timeline; no money moves until the dispute is lost."""
    order = dispute.payment.order
    event_record(
        type=Event.Type.CUSTOM,
        name="dispute_opened",
        idempotency_key=f"dispute:{dispute.stripe_dispute_id}",
        occurred_at=dispute.created_at,
        lead=order.lead,
        refs=EventRefs(funnel_id=order.funnel_id, order_id=order.pk),
        properties={"amount_minor": dispute.amount_minor, "currency": dispute.currency, "reason": dispute.reason},
    )


def chargeback_event_record(*, dispute: Dispute) -> None:
    """One ``chargeback`` event per order line a lost dispute took money from."""
    _money_back_events(
        type=Event.Type.CHARGEBACK,
        key=f"chargeback:{dispute.stripe_dispute_id}",
        payment=dispute.payment,
        allocation=dispute.allocation,
        currency=dispute.currency,
        occurred_at=dispute.closed_at,
        extra={"reason": dispute.reason} if dispute.reason else {},
    )


def _money_back_events(
    *,
    type: str,
    key: str,
    payment: Payment,
    allocation: list[dict[str, int]],
    currency: str,
    occurred_at: dt.datetime | None,
    extra: dict[str, str],
) -> None:
    order = payment.order
    for share in allocation:
        event_record(
            type=type,
            idempotency_key=f"{key}:{share['line']}",
            occurred_at=occurred_at,
            lead=order.lead,
            refs=EventRefs(funnel_id=order.funnel_id, offer_id=share["offer"], order_id=order.pk),
            properties={"amount_minor": share["amount_minor"], "currency": currency, "line": share["line"], **extra},
        )
