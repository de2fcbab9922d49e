"""Writes for offers, coupons, orders, payments and refunds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from common.errors import ApplicationError
from common.money import Money
from leads.models import Lead
from offers.models import Coupon, CouponRedemption, Offer, Order, OrderLine, Payment, Refund


def coupon_discount(*, coupon: Coupon, subtotal: Money) -> Money:
    """What ``coupon`` takes off ``subtotal``: never more than the subtotal, rounded half up."""
    if coupon.kind == Coupon.Kind.PERCENT:
        return subtotal.percent_of(coupon.percent_off or 0)
    if coupon.currency != subtotal.currency:
        raise ApplicationError(f"Coupon {coupon.code} is in {coupon.currency}; this order is in {subtotal.currency}.")
    return Money(min(coupon.amount_off_minor or 0, subtotal.amount_minor), subtotal.currency)


def coupon_check_usable(*, coupon: Coupon, offers: Sequence[Offer], now: dt.datetime | None = None) -> None:
    now = now or timezone.now()
    if not coupon.is_active:
        raise ApplicationError(f"Coupon {coupon.code} is no longer active.", field="coupon")
    if coupon.valid_from and now < coupon.valid_from:
        raise ApplicationError(f"Coupon {coupon.code} is not valid yet.", field="coupon")
    if coupon.valid_until and now >= coupon.valid_until:
        raise ApplicationError(f"Coupon {coupon.code} has expired.", field="coupon")
    allowed = {offer.pk for offer in coupon.offers.all()}
    if allowed and not allowed.intersection(offer.pk for offer in offers):
        raise ApplicationError(f"Coupon {coupon.code} does not apply to this offer.", field="coupon")


@transaction.atomic
def coupon_redeem(*, coupon: Coupon, order: Order) -> CouponRedemption:
    """Claim one redemption of ``coupon`` for ``order``.

    The claim is a single conditional UPDATE, so concurrent buyers can never push the count past
    ``max_redemptions``: the database decides who got the last one.
    """
    claimed = (
        Coupon.objects.filter(pk=coupon.pk, is_active=True)
        .filter(Q(max_redemptions__isnull=True) | Q(redemptions_count__lt=F("max_redemptions")))
        .update(redemptions_count=F("redemptions_count") + 1)
    )
    if not claimed:
        raise ApplicationError(f"Coupon {coupon.code} has been used up.", field="coupon")
    return CouponRedemption.objects.create(coupon=coupon, order=order, discount_minor=order.discount_minor)


@transaction.atomic
def order_create(
    *,
    lead: Lead,
    offers: Sequence[Offer],
    funnel_id: int | None = None,
    coupon: Coupon | None = None,
    created_at: dt.datetime | None = None,
) -> Order:
    """A pending order with one line per offer; the total is computed here, never taken from a client."""
    if not offers:
        raise ApplicationError("An order needs at least one offer.")
    currencies = {offer.currency for offer in offers}
    if len(currencies) != 1:
        raise ApplicationError(f"An order has one currency; these offers mix {', '.join(sorted(currencies))}.")
    currency = currencies.pop()
    created_at = created_at or timezone.now()
    subtotal = Money(sum(offer.amount_minor for offer in offers), currency)
    discount = Money(0, currency)
    if coupon is not None:
        coupon_check_usable(coupon=coupon, offers=offers, now=created_at)
        discount = coupon_discount(coupon=coupon, subtotal=subtotal)
    order = Order.objects.create(
        lead=lead,
        funnel_id=funnel_id,
        currency=currency,
        subtotal_minor=subtotal.amount_minor,
        discount_minor=discount.amount_minor,
        total_minor=(subtotal - discount).amount_minor,
        coupon=coupon,
        created_at=created_at,
    )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            offer=offer,
            role=offer.role,
            description=offer.name,
            amount_minor=offer.amount_minor,
            currency=offer.currency,
            created_at=created_at,
        )
        for offer in offers
    )
    if coupon is not None:
        coupon_redeem(coupon=coupon, order=order)
    return order


@transaction.atomic
def payment_record_succeeded(
    *, order: Order, payment_intent_id: str, amount_minor: int, paid_at: dt.datetime | None = None
) -> Payment:
    """Record a succeeded PaymentIntent and mark the order paid. Idempotent on the PaymentIntent id."""
    paid_at = paid_at or timezone.now()
    payment, _ = Payment.objects.update_or_create(
        stripe_payment_intent_id=payment_intent_id,
        defaults={"order": order, "amount_minor": amount_minor, "currency": order.currency, "status": "succeeded"},
        create_defaults={
            "order": order,
            "amount_minor": amount_minor,
            "currency": order.currency,
            "status": Payment.Status.SUCCEEDED,
            "created_at": paid_at,
        },
    )
    Order.objects.filter(pk=order.pk, status=Order.Status.PENDING).update(status=Order.Status.PAID, paid_at=paid_at)
    return payment


@transaction.atomic
def refund_record(
    *,
    payment: Payment,
    stripe_refund_id: str,
    amount_minor: int,
    reason: str = "",
    created_at: dt.datetime | None = None,
) -> Refund:
    """Record a refund once (keyed by Stripe's id) and move the order's refunded amount and status with it."""
    existing = Refund.objects.filter(stripe_refund_id=stripe_refund_id).first()
    if existing is not None:
        return existing
    if amount_minor <= 0:
        raise ApplicationError("A refund amount must be positive.", field="amount")
    order = Order.objects.select_for_update().get(pk=payment.order_id)
    if order.refunded_minor + amount_minor > order.total_minor:
        remaining = Money(order.total_minor - order.refunded_minor, order.currency)
        raise ApplicationError(f"At most {remaining} of this order can still be refunded.", field="amount")
    refund = Refund.objects.create(
        payment=payment,
        stripe_refund_id=stripe_refund_id,
        amount_minor=amount_minor,
        currency=payment.currency,
        reason=reason,
        created_at=created_at or timezone.now(),
    )
    order.refunded_minor += amount_minor
    order.status = (
        Order.Status.REFUNDED if order.refunded_minor == order.total_minor else Order.Status.PARTIALLY_REFUNDED
    )
    order.save(update_fields=["refunded_minor", "status"])
    return refund
