"""Celery entry points for leads: the server-side conversions dispatcher (thin, idempotent, safe to run twice)."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache

from leads import conversions
from leads.models import ConversionDestination

_DISPATCH_LOCK = "leads:conversions-dispatch"


@shared_task(name="leads.conversions_dispatch", acks_late=True, ignore_result=True)
def conversions_dispatch() -> int:
    """Beat, every ten seconds: the outbox fanned out to the destinations, then each destination's due deliveries
    sent. One run at a time (a lock); a run that dies leaves the outbox and the pending deliveries for the next."""
    if not cache.add(_DISPATCH_LOCK, 1, timeout=600):
        return 0
    try:
        while conversions.conversions_fan_out():
            pass
        sent = 0
        for destination in ConversionDestination.objects.filter(is_active=True):
            sent += conversions.conversions_send(destination=destination).sent
        return sent
    finally:
        cache.delete(_DISPATCH_LOCK)
