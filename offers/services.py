"""Writes for offers, coupons, orders, payments and refunds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from common.errors import ApplicationError
from common.money import Money, allocate
from leads.models import Lead
from offers.models import Coupon, CouponRedemption, Dispute, Offer, Order, OrderLine, Payment, Refund


def coupon_discount(*, coupon: Coupon, subtotal: Money) -> Money:
    """What ``coupon`` takes off ``subtotal``: never more than the subtotal, rounded half up."""
    if coupon.kind == Coupon.Kind.PERCENT:
        return subtotal.percent_of(coupon.percent_off or 0)
    if coupon.currency != subtotal.currency:
        raise ApplicationError(f"Coupon {coupon.code} is in {coupon.currency}; this order is in {subtotal.currency}.")
    return Money(min(coupon.amount_off_minor or 0, subtotal.amount_minor), subtotal.currency)


def coupon_line_discounts(*, coupon: Coupon, offers: Sequence[Offer], currency: str) -> list[int]:
    """Each line's share of ``coupon``, in the order of ``offers``.

    A coupon restricted to some offers discounts only those offers' lines (never the bump or the rest of the
    order); one for every offer discounts every line. The discount is computed on the eligible lines' subtotal and
    spread over them in proportion to their prices (``common.money.allocate``), so the shares add up exactly.
    """
    allowed = {offer.pk for offer in coupon.offers.all()}
    eligible = [not allowed or offer.pk in allowed for offer in offers]
    prices = [offer.amount_minor if ok else 0 for offer, ok in zip(offers, eligible, strict=True)]
    if not any(prices):
        return [0] * len(offers)
    discount = coupon_discount(coupon=coupon, subtotal=Money(sum(prices), currency))
    return allocate(discount.amount_minor, prices)


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
    line_discounts = [0] * len(offers)
    if coupon is not None:
        coupon_check_usable(coupon=coupon, offers=offers, now=created_at)
        line_discounts = coupon_line_discounts(coupon=coupon, offers=offers, currency=currency)
    discount = Money(sum(line_discounts), currency)
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
            discount_minor=line_discount,
            currency=offer.currency,
            created_at=created_at,
        )
        for offer, line_discount in zip(offers, line_discounts, strict=True)
    )
    if coupon is not None:
        coupon_redeem(coupon=coupon, order=order)
    return order


def payment_record_for_intent(
    *, order: Order, payment_intent_id: str, amount_minor: int, at: dt.datetime | None = None
) -> Payment:
    """The Payment for a PaymentIntent whose webhook came before Ladder recorded the charge: made once (pending) and
    kept on redelivery. ``offers.payments.payment_succeeded``, the one writer of "paid", then applies it."""
    payment, _ = Payment.objects.get_or_create(
        stripe_payment_intent_id=payment_intent_id,
        defaults={
            "order": order,
            "amount_minor": amount_minor,
            "currency": order.currency,
            "status": Payment.Status.PENDING,
            "created_at": at or timezone.now(),
        },
    )
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
    if order.refunded_minor + order.chargeback_minor + amount_minor > order.total_minor:
        remaining = Money(order.total_minor - order.refunded_minor - order.chargeback_minor, order.currency)
        raise ApplicationError(f"At most {remaining} of this order can still be refunded.", field="amount")
    refund = Refund.objects.create(
        payment=payment,
        stripe_refund_id=stripe_refund_id,
        amount_minor=amount_minor,
        currency=payment.currency,
        reason=reason,
        allocation=_lines_take(payment=payment, amount_minor=amount_minor, field="refunded_minor"),
        created_at=created_at or timezone.now(),
    )
    order.refunded_minor += amount_minor
    order.status = (
        Order.Status.REFUNDED if order.refunded_minor == order.total_minor else Order.Status.PARTIALLY_REFUNDED
    )
    order.save(update_fields=["refunded_minor", "status"])
    return refund


def _lines_take(*, payment: Payment, amount_minor: int, field: str) -> list[dict[str, int]]:
    """Take ``amount_minor`` (a refund or a lost dispute) from the lines ``payment`` paid for, and say how much
    each bore: in proportion to what each line still holds, so a full refund empties every line and a refund of a
    bump's price on a two-line charge lands on both in proportion (Stripe does not say which line a refund is for).
    A payment with no lines of its own (recorded from a webhook before its lines) takes from the order's lines.
    The caller holds the order's row lock."""
    lines = list(OrderLine.objects.select_for_update().filter(payment=payment).order_by("id"))
    if not lines:
        lines = list(OrderLine.objects.select_for_update().filter(order_id=payment.order_id).order_by("id"))
    left = [line.net_minor for line in lines]
    if not lines:
        return []  # an order recorded without lines (imported): its total alone bounds what is taken
    if amount_minor > sum(left):
        raise ApplicationError(
            f"At most {Money(max(sum(left), 0), payment.currency)} of this charge can still be taken back.",
            field="amount",
        )
    exact = next((i for i, held in enumerate(left) if held == amount_minor), None)
    shares = [amount_minor if i == exact else 0 for i in range(len(lines))] if exact is not None else None
    shares = shares or allocate(amount_minor, left)
    allocation = []
    for line, share in zip(lines, shares, strict=True):
        if share:
            setattr(line, field, getattr(line, field) + share)
            allocation.append({"line": line.pk, "offer": line.offer_id, "amount_minor": share})
    OrderLine.objects.bulk_update(lines, [field])
    return allocation


@transaction.atomic
def dispute_record(
    *,
    payment: Payment,
    stripe_dispute_id: str,
    amount_minor: int,
    reason: str = "",
    created_at: dt.datetime | None = None,
) -> tuple[Dispute, bool]:
    """Record a dispute the buyer's bank opened, once (keyed by Stripe's id); returns (dispute, created). Nothing
    leaves the order's net until the dispute is lost."""
    if amount_minor <= 0:
        raise ApplicationError("A dispute amount must be positive.", field="amount")
    dispute, created = Dispute.objects.get_or_create(
        stripe_dispute_id=stripe_dispute_id,
        defaults={
            "payment": payment,
            "amount_minor": amount_minor,
            "currency": payment.currency,
            "reason": reason,
            "created_at": created_at or timezone.now(),
        },
    )
    return dispute, created


@transaction.atomic
def dispute_close(*, dispute: Dispute, won: bool, closed_at: dt.datetime | None = None) -> bool:
    """Close a dispute once. A lost one takes its amount out of the order and its lines (as a refund would, but
    as a chargeback); a won one changes no money. Returns whether this call closed it."""
    locked = Dispute.objects.select_for_update().get(pk=dispute.pk)
    if locked.status != Dispute.Status.OPEN:
        return False
    order = Order.objects.select_for_update().get(pk=locked.payment.order_id)
    locked.status = Dispute.Status.WON if won else Dispute.Status.LOST
    locked.closed_at = closed_at or timezone.now()
    if not won:
        amount = min(locked.amount_minor, order.total_minor - order.refunded_minor - order.chargeback_minor)
        if amount > 0:
            locked.allocation = _lines_take(payment=locked.payment, amount_minor=amount, field="chargeback_minor")
            Order.objects.filter(pk=order.pk).update(chargeback_minor=F("chargeback_minor") + amount)
    locked.save(update_fields=["status", "closed_at", "allocation"])
    dispute.status, dispute.closed_at, dispute.allocation = locked.status, locked.closed_at, locked.allocation
    return True


def orders_client_forget(*, lead_id: int) -> int:
    """Erasure: the browser context each of a person's orders kept for conversions (address, user agent, click ids)
    is dropped; the orders themselves stay for the books. Returns how many orders held one."""
    return Order.objects.filter(lead_id=lead_id).exclude(client={}).update(client={})
