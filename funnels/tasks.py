"""Celery entry points for funnels: thin, idempotent, taking ids."""

from __future__ import annotations

import datetime as dt
import logging
import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import timezone

from common.mail import permanent_refusal
from funnels import selectors
from funnels.capture import flush
from funnels.delivery import lead_magnet_token
from funnels.models import Step
from leads import inbox
from leads.mail import address_undeliverable
from leads.models import Event, Lead
from leads.services import event_record

logger = logging.getLogger(__name__)

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
    _lead_magnet_send(lead_id=lead_id, step_id=step_id)


@shared_task(name="funnels.lead_magnet_emails", **MAIL_RETRIES)
def lead_magnet_emails(*, owed: list[list[int]]) -> None:
    """The lead magnets owed by one flushed batch of opt-ins, as ``[lead id, step id]`` pairs: one task, not one per
    opt-in. Every one is tried: a mail-server error on one holds back none of the others, and the task then retries
    (skipping those sent, or failed for good)."""
    passing: Exception | None = None
    for lead_id, step_id in owed:
        try:
            _lead_magnet_send(lead_id=lead_id, step_id=step_id)
        except MAIL_RETRIES["autoretry_for"] as error:
            passing = error
    if passing is not None:
        raise passing


def _lead_magnet_send(*, lead_id: int, step_id: int) -> None:
    lead = Lead.objects.filter(pk=lead_id, erased_at__isnull=True).first()
    step = Step.objects.filter(pk=step_id).select_related("funnel", "offer").first()
    if lead is None or step is None or step.offer is None:
        return  # erased or deleted before the worker ran: nothing to send
    key = f"lead-magnet-sent:{lead_id}:{step_id}"
    if Event.objects.filter(idempotency_key=key).exists():
        return
    day_ago = timezone.now() - dt.timedelta(days=1)
    sent_today = Event.objects.filter(lead=lead, name="lead_magnet_sent", occurred_at__gte=day_ago).count()
    if sent_today >= settings.LEAD_MAGNET_DAILY_CAP:
        # A form anyone can post to must not make Ladder mail one address without end: this one is withheld, and
        # recorded under the sent key so that no sweep tries it again.
        event_record(type=Event.Type.CUSTOM, name="lead_magnet_withheld", idempotency_key=key, lead=lead)
        return
    blocked = address_undeliverable(lead.email)
    if blocked is not None:  # the provider said mail does not reach it: recorded, never retried
        event_record(
            type=Event.Type.CUSTOM,
            name="lead_magnet_failed",
            idempotency_key=key,
            lead=lead,
            properties={"reason": f"the address is undeliverable ({blocked})"},
        )
        return
    token = lead_magnet_token(lead_id=lead.pk, offer_id=step.offer.pk)
    path = reverse("funnels:lead_magnet", kwargs={"funnel_slug": step.funnel.slug, "token": token})
    link = settings.PUBLIC_BASE_URL.rstrip("/") + path
    days = settings.LEAD_MAGNET_LINK_MAX_AGE // 86400
    greeting = f"Hi {lead.first_name}," if lead.first_name else "Hi,"
    try:
        EmailMessage(
            subject=f"Your copy of {step.offer.name}",
            body=f"{greeting}\n\nHere is {step.offer.name}:\n{link}\n\nThe link works for {days} days.\n",
            to=[lead.email],
        ).send()
    except (smtplib.SMTPException, UnicodeError, ValueError) as error:
        reason = permanent_refusal(error)
        if reason is None:
            raise  # may pass later: the task retries with backoff
        # Failed for good: recorded under the sent key, with the reason, so no retry or sweep tries it again.
        event_record(
            type=Event.Type.CUSTOM,
            name="lead_magnet_failed",
            idempotency_key=key,
            lead=lead,
            properties={"reason": reason},
        )
        logger.warning("lead magnet not sent to lead %s: %s", lead.pk, reason)
        return
    event_record(type=Event.Type.CUSTOM, name="lead_magnet_sent", idempotency_key=key, lead=lead)


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
