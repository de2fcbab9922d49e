"""Celery entry points for leads: the server-side conversions dispatcher (thin, idempotent, safe to run twice)."""

from __future__ import annotations

from celery import shared_task

from leads import conversions


@shared_task(name="leads.conversions_dispatch", acks_late=True, ignore_result=True)
def conversions_dispatch() -> int:
    """Beat, every ten seconds: the outbox fanned out to the destinations, then each destination's due deliveries
    sent (``conversions.conversions_dispatch``: one run at a time; a run that dies leaves its work for the next)."""
    return conversions.conversions_dispatch()
