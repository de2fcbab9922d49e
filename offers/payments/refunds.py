"""Refunds asked for in the admin, and the events of money going back (refunds, disputes)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from common.errors import ApplicationError
from common.money import Money
from common.tasks import enqueue_on_commit
from integrations.errors import IntegrationPermanentError, IntegrationTransientError
from leads.contracts import EventRefs
from leads.models import Event
from leads.services import event_record
from offers.books import refund_record
from offers.models import Dispute, Payment, Refund, RefundRequest
from offers.payments.gateway import stripe_gateway

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
    enqueue_on_commit("offers.refund_request_send", refund_request_pk=request.pk)
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
