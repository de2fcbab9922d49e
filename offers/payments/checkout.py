"""Checkout: the buyer types the card on the page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from common.errors import ApplicationError
from common.money import Money
from integrations.errors import IntegrationPermanentError, IntegrationTransientError
from leads.contracts import ClientContext
from leads.models import Lead
from offers.models import Coupon, Offer, Order, Payment
from offers.orders import order_create
from offers.payments.gateway import UNREACHABLE, PageOrigin, _customer_for, _metadata, stripe_gateway

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
