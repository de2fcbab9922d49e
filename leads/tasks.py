"""Celery entry points for leads: thin, idempotent."""

from __future__ import annotations

from celery import shared_task

from leads import inbox


@shared_task(name="leads.events_inbox_flush", acks_late=True, ignore_result=True)
def events_inbox_flush() -> int:
    """Write accepted beacons to the event log (see leads.inbox); safe to run often and concurrently."""
    if not inbox.inbox_enabled():
        return 0
    return inbox.events_inbox_flush()
