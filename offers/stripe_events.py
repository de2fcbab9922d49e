"""Stripe webhooks: store each verified event once, then apply it once.

The webhook, not the browser, is the source of truth for money: ``payment_intent.succeeded`` marks a charge
and its order paid and records one ``purchase`` event per order line; ``payment_intent.payment_failed`` marks
the charge failed; ``charge.refunded`` records each refund once and its ``refund`` events (one per order line it
took money from); ``charge.dispute.created`` records the dispute (and a ``dispute_opened`` custom event), and
``charge.dispute.closed`` closes it: a lost dispute takes its amount out of the order's net and records
``chargeback`` events per line, a won one changes no money. Other types are acknowledged and ignored. Every
effect is keyed (PaymentIntent, refund and dispute ids, idempotency keys), so Stripe's duplicates and
out-of-order deliveries change nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from common.errors import ApplicationError
from integrations.errors import IntegrationPermanentError, IntegrationTransientError
from integrations.stripe.amounts import from_stripe
from leads.contracts import EventRefs
from offers.books import dispute_close, dispute_record, payment_record_for_intent, refund_record
from offers.models import Dispute, Order, Payment, StripeEvent
from offers.payments import (
    chargeback_event_record,
    dispute_opened_record,
    payment_failed,
    payment_succeeded,
    payments_enabled,
    refund_event_record,
    stripe_gateway,
)


def _payment_for(intent_id: str | None, metadata: dict[str, Any] | None = None) -> Payment | None:
    """The payment a Stripe object is about: by PaymentIntent id, or by the payment id Ladder put in its metadata
    (the webhook can arrive before Stripe's answer to the request that made the PaymentIntent)."""
    payments = Payment.objects.select_related("order__lead")
    found = payments.filter(stripe_payment_intent_id=intent_id).first() if intent_id else None
    reference = str((metadata or {}).get("payment") or "")
    if found is None and reference.isdigit():
        found = payments.filter(pk=int(reference)).first()
    return found


def _order_refs(order: Order, offer_id: int | None = None) -> EventRefs:
    return EventRefs(funnel_id=order.funnel_id, offer_id=offer_id, order_id=order.pk)


def _intent_succeeded(intent: dict[str, Any]) -> None:
    metadata = intent.get("metadata") or {}
    payment = _payment_for(intent.get("id"), metadata)
    currency = str(intent.get("currency") or "").upper()
    amount = from_stripe(int(intent.get("amount_received") or intent.get("amount") or 0), currency)
    if payment is None:
        public_id = metadata.get("order")
        order = Order.objects.filter(public_id=public_id).first() if public_id else None
        if order is None:
            raise ApplicationError(f"No order is known for PaymentIntent {intent.get('id')}.")
        payment = payment_record_for_intent(order=order, payment_intent_id=str(intent["id"]), amount_minor=amount)
        if not payment.lines.exists():
            order.lines.filter(payment__isnull=True).update(payment=payment)
    payment_succeeded(
        payment=payment,
        intent_id=str(intent["id"]),
        amount_minor=amount,
        payment_method_id=_ref(intent.get("payment_method")),
        customer_id=_ref(intent.get("customer")),
    )


def _ref(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def _intent_failed(intent: dict[str, Any]) -> None:
    payment = _payment_for(intent.get("id"), intent.get("metadata"))
    if payment is None:
        raise ApplicationError(f"No charge is known for PaymentIntent {intent.get('id')}.")
    current = _current_state(intent)
    if current.get("status") == "succeeded":
        _intent_succeeded(current)  # the failure notice is older than the buyer's successful retry
        return
    error = current.get("last_payment_error") or {}
    code = str(error.get("decline_code") or error.get("code") or "")
    if payment.status == Payment.Status.REQUIRES_ACTION and code == "authentication_required":
        return  # the buyer is being asked to confirm on the page; not a failure yet
    payment_failed(payment=payment, code=code, message=str(error.get("message") or ""))


def _current_state(intent: dict[str, Any]) -> dict[str, Any]:
    """Stripe delivers events out of order: before acting on a failure, ask Stripe for the intent as it is now."""
    if not payments_enabled() or not intent.get("id"):
        return intent
    try:
        current = stripe_gateway().intent_retrieve(str(intent["id"]))
    except IntegrationTransientError:
        raise  # the task retries
    except IntegrationPermanentError:
        return intent
    return {
        **intent,
        "status": current.status,
        "payment_method": current.payment_method_id or intent.get("payment_method"),
        "last_payment_error": intent.get("last_payment_error") if current.status != "succeeded" else None,
    }


def _charge_refunded(charge: dict[str, Any]) -> None:
    payment = _payment_for(charge.get("payment_intent"))
    if payment is None:
        raise ApplicationError(f"No charge is known for PaymentIntent {charge.get('payment_intent')}.")
    refunds = (charge.get("refunds") or {}).get("data") or []
    if not refunds:
        # Newer API versions omit the list: record the difference from what is already known.
        known = sum(r.amount_minor for r in payment.refunds.all())
        missing = int(charge.get("amount_refunded") or 0) - known
        refunds = [{"id": f"{charge['id']}:{charge['amount_refunded']}", "amount": missing}] if missing > 0 else []
    for item in refunds:
        refund = refund_record(
            payment=payment,
            stripe_refund_id=str(item["id"]),
            amount_minor=from_stripe(int(item["amount"]), payment.currency),
            reason=str(item.get("reason") or ""),
        )
        refund_event_record(refund=refund)


def _dispute_created(dispute: dict[str, Any]) -> None:
    payment = _payment_for(dispute.get("payment_intent"))
    if payment is None:
        raise ApplicationError(f"No charge is known for PaymentIntent {dispute.get('payment_intent')}.")
    currency = str(dispute.get("currency") or payment.currency).upper()
    amount = from_stripe(int(dispute.get("amount") or 0), currency)
    record, _ = dispute_record(
        payment=payment,
        stripe_dispute_id=str(dispute["id"]),
        amount_minor=amount,
        reason=str(dispute.get("reason") or ""),
    )
    dispute_opened_record(dispute=record)


# Stripe's closed statuses: "won" and "warning_closed" (an inquiry that never became a chargeback) keep the money.
_DISPUTE_LOST = {"lost"}


def _dispute_closed(dispute: dict[str, Any]) -> None:
    _dispute_created(dispute)  # a closing notice can be the first Ladder hears of a dispute
    record = Dispute.objects.select_related("payment__order__lead").get(stripe_dispute_id=str(dispute["id"]))
    status = str(dispute.get("status") or "")
    if status not in _DISPUTE_LOST | {"won", "warning_closed"}:
        return  # still being decided
    if dispute_close(dispute=record, won=status not in _DISPUTE_LOST) and record.status == Dispute.Status.LOST:
        chargeback_event_record(dispute=record)


HANDLERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.payment_failed": _intent_failed,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
    "charge.dispute.closed": _dispute_closed,
}


@transaction.atomic
def stripe_event_process(*, stripe_event: StripeEvent) -> str:
    """Apply one stored event exactly once; returns its final status.

    The row is locked for the duration, so concurrent workers serialize and the second finds it done. A rule of
    the domain refusing the event (an unknown order, too large a refund) marks it failed with the reason, for a
    person to look at; anything else raises, so the task retries.
    """
    locked = StripeEvent.objects.select_for_update().get(pk=stripe_event.pk)
    if locked.status != StripeEvent.Status.RECEIVED:
        return locked.status
    locked.attempts += 1
    handler = HANDLERS.get(locked.type)
    if handler is None:
        locked.status = StripeEvent.Status.IGNORED
    else:
        try:
            with transaction.atomic():
                handler((locked.payload.get("data") or {}).get("object") or {})
            locked.status = StripeEvent.Status.PROCESSED
        except ApplicationError as refused:
            locked.status, locked.error = StripeEvent.Status.FAILED, refused.message
    locked.processed_at = timezone.now()
    locked.save(update_fields=["status", "error", "attempts", "processed_at"])
    return locked.status
