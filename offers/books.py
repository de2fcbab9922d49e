"""The money on the books, as Stripe reports it: a payment made for a PaymentIntent Ladder had not recorded, refunds
and lost disputes taken out of their order and its lines (each once, keyed by Stripe's id)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from common.errors import ApplicationError
from common.money import Money, allocate
from offers.models import Dispute, Order, OrderLine, Payment, Refund


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
