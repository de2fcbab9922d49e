"""Server-side conversions: the outbox the capture and the checkout write, fanned out and delivered.

1. ``conversions_fan_out`` turns each outbox row (written in the transaction of its opt-in or purchase) into one
   pending delivery per active destination that reports that kind of event, and deletes the row, in one
   transaction. A destination added later reports only what happens after it was added.
2. ``conversions_send`` sends one destination's due deliveries in the platform's batch size. Before anything leaves,
   a delivery is dropped, with its reason, when the person has no ad consent now (consent gates every upload), was
   erased, or the event is older than the platform accepts. A batch the platform takes is marked sent with its
   reference and the browser context is cleared. What the platform's errors do to the connection is the one policy of
   ``audiences.connections``, as for the audience syncs: a transient failure makes it wait (the platform's own wait,
   else a doubling backoff) and leaves the batch pending until then; refused credentials pause it, the deliveries kept
   for when it is fixed; any other refusal fails that batch with the platform's reason. Sending again is safe: Meta
   deduplicates by ``event_id`` and event name, Google by ``transaction_id``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audiences.connections import connection_failed, connection_pause, connection_succeeded
from audiences.conversions.platforms import ConversionPlatform, conversion_platform, sender_for
from audiences.models import ConversionDelivery, ConversionDestination
from audiences.models.connections import sending_through
from common.locks import Lock, LockLost
from integrations.conversions import EVENT_NAMES, Conversion, ConversionSender
from integrations.errors import (
    IntegrationCredentialsError,
    IntegrationError,
    IntegrationTransientError,
)
from integrations.protocols import Hasher, Person
from leads.models import Consent, ConversionOutbox, Event, Lead, Touch
from leads.selectors import granted_now

MAX_ATTEMPTS = 8  # a delivery is given up after this many transient failures
FAN_OUT_BATCH = 5_000
IDENTITY_FIELDS = ("email", "phone", "first_name", "last_name", "city", "region", "postal_code", "country")


@dataclass(frozen=True, slots=True)
class SendSummary:
    sent: int = 0
    dropped: int = 0
    failed: int = 0
    waiting: int = 0  # left pending after a transient failure


def conversions_fan_out(*, limit: int = FAN_OUT_BATCH) -> int:
    """Outbox rows → pending deliveries, rows deleted, in one transaction (rows another run holds are skipped)."""
    with transaction.atomic():
        rows = list(
            ConversionOutbox.objects.select_for_update(skip_locked=True)
            .order_by("event_id")
            .values_list("event_id", "client", "created_at")[:limit]
        )
        if not rows:
            return 0
        types = dict(Event.objects.filter(pk__in=[row[0] for row in rows]).values_list("pk", "type"))
        now = timezone.now()
        deliveries = [
            ConversionDelivery(destination=destination, event_id=event_id, client=client, next_attempt_at=now)
            for destination in ConversionDestination.objects.filter(is_active=True, connection__is_active=True)
            for event_id, client, created_at in rows
            if destination.created_at <= created_at and _reports(destination, types.get(event_id, ""))
        ]
        ConversionDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        ConversionOutbox.objects.filter(event_id__in=[row[0] for row in rows]).delete()
    return len(rows)


def _reports(destination: ConversionDestination, event_type: str) -> bool:
    return (event_type == Event.Type.OPTIN and destination.send_leads) or (
        event_type == Event.Type.PURCHASE and destination.send_purchases
    )


def conversions_dispatch() -> int:
    """Fan the outbox out, then send every active destination's due deliveries; returns the deliveries sent.

    One run at a time: the run holds an owner-token lock that lapses after ``CONVERSIONS_DISPATCH_LOCK_SECONDS``
    and is renewed after every batch, so a worker killed mid-send holds the others back for that long at most;
    the deliveries it had not marked sent are sent by the next run (the platforms deduplicate a batch that had
    reached them). A run that finds its lock lapsed and taken stops where it is.
    """
    lock = Lock("audiences:conversions-dispatch", lapse=settings.CONVERSIONS_DISPATCH_LOCK_SECONDS)
    if not lock.acquire():
        return 0
    sent = 0
    with lock:
        try:
            while conversions_fan_out():
                lock.renew()
            for destination in conversion_destinations_sending():
                sent += conversions_send(destination=destination, after_batch=lock.renew).sent
                lock.renew()
        except LockLost:
            pass  # the run that took the lock goes on from the deliveries still pending
    return sent


def conversion_destinations_sending(now: dt.datetime | None = None) -> list[ConversionDestination]:
    """Switched-on destinations whose connection may send now: switched on, not paused, not asked to wait."""
    return list(ConversionDestination.objects.filter(sending_through(now)).select_related("connection"))


def conversions_forget(*, lead_id: int) -> None:
    """An erased person's conversions not yet sent are dropped, with the browser context kept for them."""
    ConversionDelivery.objects.filter(event__lead_id=lead_id, status=ConversionDelivery.Status.PENDING).update(
        status=ConversionDelivery.Status.DROPPED, reason="The person was erased.", client={}, finished_at=timezone.now()
    )


def conversions_send(
    *,
    destination: ConversionDestination,
    sender: ConversionSender | None = None,
    now: dt.datetime | None = None,
    limit: int = 10_000,
    after_batch: Callable[[], None] | None = None,
) -> SendSummary:
    """Send the destination's due deliveries (at most ``limit``): drop what may not or cannot be sent, then batches;
    ``after_batch`` is called after each batch is recorded (the dispatcher renews its lock there)."""
    now = now or timezone.now()
    due = list(
        ConversionDelivery.objects.filter(
            destination=destination, status=ConversionDelivery.Status.PENDING, next_attempt_at__lte=now
        ).order_by("id")[:limit]
    )
    if not due:
        return SendSummary()
    try:
        platform = conversion_platform(destination.platform)
    except IntegrationError as error:
        return _refused(destination, due, error, now)
    conversions, dropped = _conversions(due, platform=platform, now=now)
    try:
        sender = sender or sender_for(destination)
    except IntegrationError as error:
        return _refused(destination, [d for d in due if d.pk in conversions], error, now, dropped=dropped)
    sent = failed = 0
    ready = [delivery for delivery in due if delivery.pk in conversions]
    for start in range(0, len(ready), sender.batch_size):
        batch = ready[start : start + sender.batch_size]
        try:
            delivered = sender.send([conversions[delivery.pk] for delivery in batch])
        except IntegrationTransientError as error:
            _later(destination, batch, error, now)
            return SendSummary(sent=sent, dropped=dropped, failed=failed, waiting=len(ready) - start)
        except IntegrationError as error:
            if isinstance(error, IntegrationCredentialsError):
                return _refused(destination, ready[start:], error, now, sent=sent, dropped=dropped, failed=failed)
            _finish(batch, ConversionDelivery.Status.FAILED, now, reason=str(error))
            failed += len(batch)
            continue
        _finish(batch, ConversionDelivery.Status.SENT, now, reference=delivered.reference)
        connection_succeeded(destination.connection)
        sent += len(batch)
        if after_batch is not None:
            after_batch()
    return SendSummary(sent=sent, dropped=dropped, failed=failed)


def _conversions(
    due: list[ConversionDelivery], *, platform: ConversionPlatform, now: dt.datetime
) -> tuple[dict[int, Conversion], int]:
    """Each sendable delivery's conversion; the others are dropped here with their reason."""
    events = Event.objects.in_bulk([delivery.event_id for delivery in due])
    lead_ids = {event.lead_id for event in events.values() if event.lead_id}
    leads = Lead.objects.in_bulk(list(lead_ids))
    consented = set(
        Lead.objects.filter(pk__in=lead_ids, erased_at__isnull=True)
        .filter(pk__in=granted_now(Consent.Purpose.AD_AUDIENCES))
        .values_list("pk", flat=True)
    )
    clicks = {touch.lead_id: touch for touch in Touch.objects.filter(lead_id__in=lead_ids, kind=Touch.Kind.LAST)}
    hasher = platform.hasher()
    out: dict[int, Conversion] = {}
    drops: dict[str, list[ConversionDelivery]] = {}
    for delivery in due:
        event = events.get(delivery.event_id)
        lead = leads.get(event.lead_id) if event and event.lead_id else None
        if event is None or lead is None or lead.erased_at is not None:
            drops.setdefault("The person was erased.", []).append(delivery)
            continue
        if lead.pk not in consented:
            drops.setdefault("No ad consent: conversions are reported only for people who gave it.", []).append(
                delivery
            )
            continue
        conversion = _conversion(event, lead, delivery.client, clicks.get(lead.pk), hasher)
        if now - conversion.occurred_at > platform.max_age:
            drops.setdefault(f"Older than the platform accepts: {platform.max_age_text}.", []).append(delivery)
            continue
        out[delivery.pk] = conversion
    for reason, deliveries in drops.items():
        _finish(deliveries, ConversionDelivery.Status.DROPPED, now, reason=reason)
    return out, sum(len(deliveries) for deliveries in drops.values())


def _conversion(event: Event, lead: Lead, client: dict[str, str], click: Touch | None, hasher: Hasher) -> Conversion:
    identity = {name: getattr(lead, name) for name in IDENTITY_FIELDS}
    hashes = hasher.hashes(Person(**identity, phone_is_stored=True))
    purchase = event.type == Event.Type.PURCHASE
    return Conversion(
        event_id=event.idempotency_key,
        name=EVENT_NAMES[event.type],
        occurred_at=event.occurred_at,
        hashes=hashes,
        external_id=str(lead.public_id),
        client_ip=client.get("ip", ""),
        user_agent=client.get("user_agent", ""),
        fbp=client.get("fbp", ""),
        fbc=click.fbc if click else "",
        gclid=click.gclid if click else "",
        gbraid=click.gbraid if click else "",
        wbraid=click.wbraid if click else "",
        source_url=click.landing_url if click else "",
        value_minor=int(event.properties["amount_minor"]) if purchase and "amount_minor" in event.properties else None,
        currency=str(event.properties.get("currency", "")) if purchase else "",
        transaction_id=event.idempotency_key,
    )


def _finish(
    deliveries: list[ConversionDelivery], status: str, now: dt.datetime, *, reason: str = "", reference: str = ""
) -> None:
    ConversionDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        status=status, reason=reason[:500], reference=reference[:100], client={}, finished_at=now
    )


def _later(
    destination: ConversionDestination,
    deliveries: list[ConversionDelivery],
    error: IntegrationTransientError,
    now: dt.datetime,
) -> None:
    """The connection waits (its one backoff) and the batch is pending again until then; a delivery that has failed
    ``MAX_ATTEMPTS`` times is given up. Two statements for the batch, whatever its size."""
    spent = [d for d in deliveries if d.attempts + 1 >= MAX_ATTEMPTS]
    if spent:
        reason = f"Gave up after {MAX_ATTEMPTS} attempts: {error}"
        _finish(spent, ConversionDelivery.Status.FAILED, now, reason=reason)
    retried = [d.pk for d in deliveries if d.attempts + 1 < MAX_ATTEMPTS]
    then = connection_failed(destination.connection, error)
    if retried:
        ConversionDelivery.objects.filter(pk__in=retried).update(
            attempts=F("attempts") + 1,
            reason=f"{error} {then}".strip()[:500],
            next_attempt_at=destination.connection.wait_until or now,
        )


def _refused(
    destination: ConversionDestination,
    kept: list[ConversionDelivery],
    error: IntegrationError,
    now: dt.datetime,
    **counts: int,
) -> SendSummary:
    """The connection's credentials were refused (or its client could not be made): it pauses, and the deliveries
    wait for a person to fix it."""
    then = connection_failed(destination.connection, error) or connection_pause(destination.connection, error)
    ConversionDelivery.objects.filter(pk__in=[d.pk for d in kept]).update(reason=f"{error} {then}"[:500])
    return SendSummary(waiting=len(kept), **counts)
