"""One click on the saved card, and success, from the webhook or from Stripe's answer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from common.errors import ApplicationError
from integrations.errors import IntegrationPermanentError, IntegrationTransientError
from integrations.stripe.gateway import AuthenticationRequired, CardDeclined
from leads.contracts import EventRefs
from leads.models import Event
from leads.services import event_record
from offers.models import Offer, Order, OrderLine, Payment
from offers.payments.checkout import CheckoutStarted, _checkout_intent
from offers.payments.gateway import UNREACHABLE, PageOrigin, _metadata, stripe_gateway

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


def addon_checkout_start(*, order: Order, offer: Offer, origin: PageOrigin | None = None) -> CheckoutStarted:
    """Once the one-click window has passed, an upsell is bought by typing the card again: one more payment on
    the same order, whose line is added when it succeeds."""
    _check_addon(order, offer)
    payment = addon_payment_record(order=order, offer=offer, kind=Payment.Kind.CHECKOUT, origin=origin)
    return _checkout_intent(payment)


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
