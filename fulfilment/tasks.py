"""Celery entry points for fulfilment: thin, idempotent."""

from __future__ import annotations

from celery import shared_task

from fulfilment import emails, services


@shared_task(name="fulfilment.advance", acks_late=True, ignore_result=True)
def advance() -> int:
    """Beat, every ten seconds: paid lines given their deliverables, lines refunded in full losing them (one batch
    holds the cursor's lock, so overlapping runs wait and grant nothing twice). Returns the events read."""
    return services.fulfilment_catch_up()


@shared_task(name="fulfilment.emails_send", acks_late=True, ignore_result=True)
def emails_send() -> int:
    """Beat, every ten seconds: due receipts and refund confirmations sent (each row locked while it is sent)."""
    return emails.emails_send()
