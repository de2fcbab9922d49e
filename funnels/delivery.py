"""Lead-magnet delivery: the e-mail, once per lead and step, with a signed, expiring link (no login, nothing
guessable, nothing stored)."""

from __future__ import annotations

import datetime as dt
import logging
import smtplib

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import timezone

from common.mail import permanent_refusal
from funnels.models import Step
from leads.mail import address_undeliverable
from leads.models import Event, Lead
from leads.services import event_record
from offers.models import Offer

logger = logging.getLogger(__name__)

LEAD_MAGNET_SALT = "ladder.lead-magnet"


def lead_magnet_token(*, lead_id: int, offer_id: int) -> str:
    return signing.TimestampSigner(salt=LEAD_MAGNET_SALT).sign(f"{lead_id}:{offer_id}")


def lead_magnet_offer(*, token: str, max_age: int) -> Offer:
    """The lead-magnet offer a signed link grants. Raises signing.SignatureExpired or signing.BadSignature."""
    value = signing.TimestampSigner(salt=LEAD_MAGNET_SALT).unsign(token, max_age=max_age)
    try:
        _, offer_id = value.split(":")
        offer = Offer.objects.filter(pk=int(offer_id), role=Offer.Role.LEAD_MAGNET).first()
    except ValueError:
        offer = None
    if offer is None:
        raise signing.BadSignature("the link names no lead magnet")
    return offer


def lead_magnet_send(*, lead_id: int, step_id: int) -> None:
    """E-mail the lead magnet of ``step_id`` to ``lead_id`` through a signed, expiring link, once.

    A ``lead_magnet_sent`` event keyed by (lead, step) is written after the send, and a second call that finds it
    sends nothing. A daily cap per address, an address the mail provider refused and a permanent refusal are recorded
    under the same key (withheld or failed, with the reason) and never tried again. A mail server's passing error is
    raised for the caller's retry.
    """
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
