"""Celery entry points for funnels: thin, idempotent, taking ids."""

from __future__ import annotations

import datetime as dt
import smtplib

from celery import shared_task
from django.utils import timezone

from funnels import selectors
from funnels.capture import flush
from funnels.delivery import lead_magnet_send
from leads import inbox

# A mail server's errors retry with backoff; a task is acknowledged only once it has run.
MAIL_RETRIES: dict = {
    "acks_late": True,
    "autoretry_for": (smtplib.SMTPException, ConnectionError, TimeoutError),
    "retry_backoff": True,
    "max_retries": 6,
}


@shared_task(name="funnels.lead_magnet_email", **MAIL_RETRIES)
def lead_magnet_email(*, lead_id: int, step_id: int) -> None:
    """E-mail the lead magnet of ``step_id`` to ``lead_id`` through a signed, expiring link.

    Idempotent: a ``lead_magnet_sent`` event keyed by (lead, step) is written after the send, and a second
    run that finds it sends nothing. Mail-server errors retry with backoff.
    """
    lead_magnet_send(lead_id=lead_id, step_id=step_id)


@shared_task(name="funnels.lead_magnet_emails", **MAIL_RETRIES)
def lead_magnet_emails(*, owed: list[list[int]]) -> None:
    """The lead magnets owed by one flushed batch of opt-ins, as ``[lead id, step id]`` pairs: one task, not one per
    opt-in. Every one is tried: a mail-server error on one holds back none of the others, and the task then retries
    (skipping those sent, or failed for good)."""
    passing: Exception | None = None
    for lead_id, step_id in owed:
        try:
            lead_magnet_send(lead_id=lead_id, step_id=step_id)
        except MAIL_RETRIES["autoretry_for"] as error:
            passing = error
    if passing is not None:
        raise passing


@shared_task(name="funnels.lead_magnet_sweep", acks_late=True, ignore_result=True)
def lead_magnet_sweep() -> int:
    """Send every lead magnet owed from the last day that was never marked sent (see lead_magnets_owed).

    The opt-in's own on-commit task normally sends at once; this catches the ones lost to a crash between the
    commit and the enqueue, or to a broker outage. Each send is idempotent, so a race with that task is harmless.
    """
    owed = selectors.lead_magnets_owed(since=timezone.now() - dt.timedelta(days=1))
    for lead_id, step_id in owed:
        lead_magnet_email.delay(lead_id=lead_id, step_id=step_id)
    return len(owed)


@shared_task(name="funnels.capture_inbox_flush", acks_late=True, ignore_result=True)
def capture_inbox_flush() -> int:
    """Write accepted beacons and opt-ins (see leads.inbox); safe to run often and concurrently."""
    if not inbox.inbox_enabled():
        return 0
    events, optins = flush.capture_inbox_flush()
    return events + optins
