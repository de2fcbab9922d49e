"""Celery entry points for audiences: thin, idempotent, safe to run twice."""

from __future__ import annotations

import datetime as dt
import time

from celery import shared_task
from django.db import DatabaseError
from django.db.models import Max
from django.utils import timezone

from audiences import connections, conversions, push, services, sync
from audiences.models import Audience, Destination, SyncBatch, SyncRun
from audiences.sync.platforms import PLATFORMS
from common.locks import Lock, LockLost
from common.tasks import enqueue_on_commit
from integrations.errors import IntegrationError

_MARKED_LOCK = "audiences:refresh-marked"


@shared_task(name="audiences.refresh_marked", acks_late=True, ignore_result=True)
def audiences_refresh_marked() -> int:
    """Beat, every second or so: the audiences of leads that changed (one run at a time)."""
    lock = Lock(_MARKED_LOCK, lapse=300)
    if not lock.acquire():
        return 0
    with lock:
        changed = 0
        while taken := services.audiences_refresh_marked():
            changed += len(taken)
            try:
                lock.renew()  # a busy stretch can outlast the lock's lapse
            except LockLost:
                break  # another run took over after a pause this long; it takes the rest
            # Someone who left an audience, withdrew consent or was erased is removed now, not at the next schedule.
            for destination_pk in sync.destinations_holding(lead_ids=taken):
                destination_sync.delay(destination_pk=destination_pk)
            # Someone who joined reaches the platforms within a minute: one push a destination a window.
            for planned in push.pushes_plan(push.destinations_joining(lead_ids=taken)):
                destination_push.apply_async(
                    kwargs={"destination_pk": planned.destination_pk}, countdown=planned.countdown
                )
        return changed


@shared_task(name="audiences.refresh_due", acks_late=True, ignore_result=True)
def audiences_refresh_due() -> int:
    """Beat, every minute: queue a full rebuild of each audience whose interval has passed."""
    due = services.audiences_due()
    for audience in due:
        audience_refresh.delay(audience_pk=audience.pk)
    return len(due)


@shared_task(
    name="audiences.refresh", acks_late=True, autoretry_for=(DatabaseError,), retry_backoff=True, max_retries=5
)
def audience_refresh(*, audience_pk: int) -> int | None:
    audience = Audience.objects.filter(pk=audience_pk).first()
    if audience is None:
        return None
    result = services.audience_refresh(audience=audience)
    return result.size if result else None


@shared_task(name="audiences.sync_due", acks_late=True, ignore_result=True)
def destinations_sync_due() -> int:
    """Beat, every minute: queue each destination that may send and whose schedule has come round, or whose
    connection's wait after a failure is over (the pushes held back during the wait go with this sync)."""
    now = timezone.now()
    due = [
        d.pk
        for d in sync.destinations_sending(now)
        if d.last_synced_at is None
        or d.last_synced_at + dt.timedelta(minutes=d.schedule_minutes) <= now
        or d.connection.failures > 0  # its connection's wait is over: try again now
    ]
    for pk in due:
        destination_sync.delay(destination_pk=pk)
    return len(due)


@shared_task(
    name="audiences.sync",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=10,
)
def destination_sync(*, destination_pk: int) -> str | None:
    """One destination at a time (a lock); the ledger makes a repeated run send nothing twice.

    The lock is renewed after every batch and lapses ``AUDIENCE_SYNC_LOCK_SECONDS`` after the last, so a worker that
    dies mid-sync (even by ``kill -9``) holds the destination only that long: the schedule then takes it up again,
    and the new run sends what the ledger does not yet hold. A run that loses the database (a restart, a failover)
    releases its lock and is retried with a backoff; the retry closes it and sends what was left."""
    destination = Destination.objects.select_related("audience", "connection").filter(pk=destination_pk).first()
    if destination is None:
        return None
    if not destination.connection.sending():
        return "waiting"  # paused, or the platform asked for a pause: the schedule takes it up when it is over
    try:
        return sync.destination_sync(destination=destination).status
    except sync.SyncInProgress:
        return None  # another run has it; the ledger makes sure nothing is missed


PUSH_BUSY_SECONDS = 5  # a push that found its destination mid-sync tries again this much later
PUSH_EARLY_SLACK = 0.1  # seconds a push may start earlier than planned (a timer's jitter) without going round again


@shared_task(
    name="audiences.push",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=10,
)
def destination_push(*, destination_pk: int) -> str | None:
    """The people who joined since the last push, to one destination (``audiences.push`` plans when)."""
    destination = (
        Destination.objects.select_related("audience", "connection").filter(pk=destination_pk, is_active=True).first()
    )
    wait = push.push_wait(destination) if destination is not None else 0.0
    if wait > push.push_prepare_seconds() + PUSH_EARLY_SLACK:  # still the same push, which starts nearer its slot
        enqueue_on_commit(destination_push, countdown=wait - push.push_prepare_seconds(), destination_pk=destination_pk)
        return "early"
    send_at = time.time() + wait  # its rows are read meanwhile; the request leaves when the window is over
    lead_ids = push.push_started(destination_pk)
    last_request = None
    try:
        if destination is None:
            return None  # switched off: its next full sync, once on again, sends them
        if not destination.connection.sending():
            push.push_return(destination_pk, lead_ids)
            return "waiting"  # the schedule takes it up when the connection's pause is over
        try:
            lead_ids = sorted(set(lead_ids) | set(push.push_catch_up(destination)))
        except DatabaseError:
            push.push_return(destination_pk, lead_ids)  # the retry carries them
            raise
        if not lead_ids:
            return None  # nobody left to send
        late: list[int] = []

        def last_call() -> list[int]:
            late.extend(push.push_last_call(destination))
            return late

        try:
            run = sync.destination_sync(
                destination=destination, lead_ids=lead_ids, not_before=send_at, last_call=last_call
            )
        except DatabaseError:
            push.push_return(destination_pk, [*lead_ids, *late])  # the retry carries them
            raise
        except sync.SyncInProgress:
            # The running sync may have read its diff before these members joined: this push waits its turn.
            push.push_return(destination_pk, lead_ids)
            if push.push_again(destination_pk, countdown=PUSH_BUSY_SECONDS):
                enqueue_on_commit(destination_push, countdown=PUSH_BUSY_SECONDS, destination_pk=destination_pk)
            return None
        if run.status != SyncRun.Status.SUCCEEDED:  # the ledger says who was taken; the rest go with the next push
            push.push_return(destination_pk, [*lead_ids, *late])
        # Its last request had ended (and so had reached the platform) by the time it was recorded: the next request
        # goes a window after that, so the platform never sees two within a window.
        last_request = run.batches.filter(kind=SyncBatch.Kind.ADD).aggregate(last=Max("created_at"))["last"]
        return run.status
    finally:
        push.push_finished(destination_pk, last_request=last_request)


@shared_task(name="audiences.credentials_check", acks_late=True, ignore_result=True)
def connections_credentials_check() -> int:
    """Beat, daily: each switched-on connection's credentials with its platform; returns how many were paused (a
    paused one whose credentials work again resumes)."""
    return connections.connections_check()


@shared_task(name="audiences.conversions_dispatch", acks_late=True, ignore_result=True)
def conversions_dispatch() -> int:
    """Beat, every ten seconds: the outbox fanned out to the conversion destinations, then each one's due deliveries
    sent (``conversions.conversions_dispatch``: one run at a time; a run that dies leaves its work for the next)."""
    return conversions.conversions_dispatch()


@shared_task(name="audiences.reconcile", acks_late=True, ignore_result=True)
def destinations_reconcile() -> int:
    """Beat, weekly: each active destination that has a full replace (Meta) is replaced with what its ledger holds."""
    replaceable = [name for name, platform in PLATFORMS.items() if platform.full_replace]
    reconciled = 0
    for destination in sync.destinations_sending().filter(connection__platform__in=replaceable):
        try:
            reconciled += bool(sync.destination_reconcile(destination=destination).sent)
        except sync.SyncInProgress:
            continue  # a sync has it now; next week's reconcile comes round
    return reconciled


@shared_task(name="audiences.requests_check", acks_late=True, ignore_result=True)
def destinations_requests_check() -> int:
    """Beat, every ten minutes: what the platforms that apply requests later (Google) did with them; returns how
    many members went back into the next diff because a request failed there. Runs under each sync's lock."""
    pending = Destination.objects.filter(
        is_active=True, runs__batches__remote_status=SyncBatch.RemoteStatus.PROCESSING
    ).distinct()
    put_back = 0
    for destination in pending.select_related("audience", "connection"):
        lock = sync.destination_lock(destination)
        if not lock.acquire():
            continue  # a sync is under way; it asks first itself
        with lock:
            try:
                put_back += sync.requests_outcome_check(destination=destination)
            except IntegrationError:
                continue
    return put_back
