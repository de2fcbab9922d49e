"""Celery entry points for offers: thin, idempotent, taking ids."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.db import DatabaseError
from django.utils import timezone

from integrations.errors import IntegrationTransientError
from offers import payments, stripe_events
from offers.models import RefundRequest, StripeEvent


@shared_task(
    name="offers.stripe_event_process",
    acks_late=True,
    autoretry_for=(DatabaseError, IntegrationTransientError),
    retry_backoff=True,
    max_retries=8,
)
def stripe_event_process(*, stripe_event_pk: int) -> str | None:
    """Apply a stored Stripe event once (see offers.stripe_events); running it again changes nothing."""
    stripe_event = StripeEvent.objects.filter(pk=stripe_event_pk).first()
    if stripe_event is None:
        return None
    return stripe_events.stripe_event_process(stripe_event=stripe_event)


@shared_task(name="offers.stripe_events_sweep", acks_late=True, ignore_result=True)
def stripe_events_sweep() -> int:
    """Queue stored events still unprocessed after a minute (their first enqueue was lost)."""
    stale = StripeEvent.objects.filter(
        status=StripeEvent.Status.RECEIVED, received_at__lt=timezone.now() - dt.timedelta(minutes=1)
    ).values_list("pk", flat=True)[:1000]
    for pk in stale:
        stripe_event_process.delay(stripe_event_pk=pk)
    return len(stale)


@shared_task(
    name="offers.refund_request_send",
    acks_late=True,
    autoretry_for=(DatabaseError, IntegrationTransientError),
    retry_backoff=True,
    max_retries=10,
)
def refund_request_send(*, refund_request_pk: int) -> str | None:
    """Send a refund asked for in the admin; the same idempotency key every time, so a retry refunds once."""
    request = RefundRequest.objects.select_related("payment__order").filter(pk=refund_request_pk).first()
    if request is None:
        return None
    return payments.refund_request_send(request=request).status


@shared_task(name="offers.refund_requests_sweep", acks_late=True, ignore_result=True)
def refund_requests_sweep() -> int:
    """Queue refunds still pending after a minute (their enqueue was lost, or their retries ran out)."""
    stale = RefundRequest.objects.filter(
        status=RefundRequest.Status.PENDING, created_at__lt=timezone.now() - dt.timedelta(minutes=1)
    ).values_list("pk", flat=True)[:1000]
    for pk in stale:
        refund_request_send.delay(refund_request_pk=pk)
    return len(stale)
