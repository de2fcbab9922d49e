"""A sync run: holding and renewing the destination's lock, sending the diff in batches; and the weekly full
replace."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.utils import timezone

from audiences.connections import connection_succeeded
from audiences.models import AudienceMember, Destination, SyncBatch, SyncLedger, SyncRun
from audiences.sync.batches import Recorder, batch_send
from audiences.sync.outcomes import requests_outcome_check
from audiences.sync.pausing import run_failed
from audiences.sync.platforms import uploader_for
from audiences.sync.rows import chunked, upload_rows, with_last
from audiences.sync.selectors import leads_to_add, ledger_maybe_changed, ledger_to_remove
from common.db import among, statistics_refresh
from common.errors import ApplicationError
from common.locks import Lock, LockLost
from integrations.audience_upload import AudienceUploader, UploadRow
from integrations.errors import (
    IntegrationError,
    IntegrationPermanentError,
)
from integrations.protocols import AppliedLater, AppliedOnClose, Replaceable
from leads.models import Consent, Lead

PREVIEW_ROWS = 20


class SyncInProgress(ApplicationError):
    """Another run holds the destination: one run at a time sends to it."""


def destination_lock(destination: Destination) -> Lock:
    return Lock(f"audiences:sync:{destination.pk}", lapse=settings.AUDIENCE_SYNC_LOCK_SECONDS)


def destination_busy(destination: Destination) -> bool:
    """Whether a run holds the destination now (the admin says so rather than queue a sync that would wait)."""
    return destination_lock(destination).taken()


def _locked(destination: Destination) -> Lock:
    """The destination's lock, taken; a run still "running" then belongs to an owner whose lock lapsed (a worker that
    died) and is closed as interrupted. Raises SyncInProgress when another run holds the lock."""
    lock = destination_lock(destination)
    if not lock.acquire():
        raise SyncInProgress(f"{destination} is being synced right now; try again in a minute.")
    destination.runs.filter(status=SyncRun.Status.RUNNING, dry_run=False).update(
        status=SyncRun.Status.FAILED,
        error="Interrupted: the run stopped mid-sync (its worker stopped or lost the database). The next run sent what "
        "was left.",
        finished_at=timezone.now(),
    )
    return lock


def destination_sync(
    *,
    destination: Destination,
    dry_run: bool = False,
    uploader: AudienceUploader | None = None,
    progress: Callable[[int], None] | None = None,
    lead_ids: Sequence[int] | None = None,
    not_before: float | None = None,
    last_call: Callable[[], Sequence[int]] | None = None,
) -> SyncRun:
    """Send what changed, holding the destination's lock (renewed after every batch) whoever asks: the scheduled
    task, the admin's "Sync now", ``audience_sync``. A dry run counts and previews the first rows, sends nothing,
    changes no ledger and takes no lock. Raises SyncInProgress when another run holds the destination.

    With ``lead_ids`` (a push: people who just joined) only those of them still to be added are sent: no removals,
    no resending of changed members and no full diff, so the run costs what the joins do, whatever the audience's
    size; the destination's schedule (``last_synced_at``) is left to full syncs. ``not_before`` (a Unix time) holds
    the first request until then: a push reads and hashes its rows first, then sends them the moment its slot opens.
    ``last_call``, with ``not_before``, is asked ``AUDIENCE_PUSH_LAST_CALL_SECONDS`` before the slot who else joined
    meanwhile; they go in the same request if it has room."""
    if dry_run:
        return _destination_sync(destination=destination, dry_run=True, uploader=uploader, progress=progress)
    with _locked(destination) as lock:

        def renewing(sent: int) -> None:
            lock.renew()  # LockLost: this run paused past the lapse and another took over
            if progress is not None:
                progress(sent)

        return _destination_sync(
            destination=destination,
            uploader=uploader,
            progress=renewing,
            lead_ids=lead_ids,
            not_before=not_before,
            last_call=last_call,
        )


def _destination_sync(
    *,
    destination: Destination,
    dry_run: bool = False,
    uploader: AudienceUploader | None = None,
    progress: Callable[[int], None] | None = None,
    lead_ids: Sequence[int] | None = None,
    not_before: float | None = None,
    last_call: Callable[[], Sequence[int]] | None = None,
) -> SyncRun:
    full = lead_ids is None
    if full:
        for model in (SyncLedger, AudienceMember, Consent, Lead):  # the diff's plan needs fresh statistics
            statistics_refresh(model)
    run = SyncRun.objects.create(destination=destination, dry_run=dry_run, started_at=timezone.now())
    adds, removes = leads_to_add(destination), ledger_to_remove(destination)
    if not full:
        adds = adds.filter(pk__in=among(lead_ids or []))
    mirror = full and destination.mode == Destination.Mode.MIRROR
    currency = destination.value_currency if destination.value_based else ""
    run.to_add, run.to_remove = adds.count(), removes.count() if mirror else 0
    try:
        uploader = uploader or uploader_for(destination)
        if (
            not dry_run
            and isinstance(uploader, AppliedLater)
            and requests_outcome_check(destination=destination, uploader=uploader)
        ):
            run.to_add, run.to_remove = adds.count(), removes.count() if mirror else 0  # failed requests put back
        if dry_run:
            preview = list(upload_rows(adds[:PREVIEW_ROWS], platform=destination.platform, value_currency=currency))
            SyncBatch.objects.create(
                run=run, kind=SyncBatch.Kind.ADD, size=run.to_add, payload=[row.hashes for row in preview]
            )
        else:
            recorder = Recorder()
            try:
                rows_to_add = upload_rows(adds, platform=destination.platform, value_currency=currency)
                for rows, last in with_last(chunked(rows_to_add, uploader.batch_size)):
                    if not_before is not None:  # the rows are read and hashed: wait for the slot, then send
                        joined = _until_slot(
                            destination,
                            rows,
                            not_before=not_before,
                            last_call=last_call if last else None,
                            room=uploader.batch_size - len(rows),
                            currency=currency,
                        )
                        rows, run.to_add, not_before = rows + joined, run.to_add + len(joined), None
                    batch_send(
                        run, uploader, SyncBatch.Kind.ADD, rows, SyncLedger.State.ADDED, last=last, recorder=recorder
                    )
                    if progress:
                        progress(len(rows))
                recorder.flush()  # the ledger holds every add before the next queries read it
            finally:
                recorder.close()
            changed = ledger_maybe_changed(destination) if full else SyncLedger.objects.none()
            for held in chunked(changed.iterator(chunk_size=2000), uploader.batch_size):
                _resend_changed(run, uploader, held, mirror=mirror)
            if mirror:
                for held in chunked(removes.iterator(chunk_size=2000), uploader.batch_size):
                    rows = [UploadRow(key=str(entry.lead_id), hashes=entry.hashes) for entry in held]
                    batch_send(run, uploader, SyncBatch.Kind.REMOVE, rows, SyncLedger.State.REMOVED)
                    if progress:
                        progress(len(rows))
            _close(uploader)
        run.status = SyncRun.Status.SUCCEEDED
    except IntegrationError as error:
        run_failed(run, destination, error)
        if not dry_run and uploader is not None:
            try:  # what the platform already took (and the ledger holds) is applied, not left in an unrun job
                _close(uploader)
            except IntegrationError:
                pass  # the job's status check, and the next sync, take it from there
    except LockLost:
        run.status = SyncRun.Status.FAILED
        run.error = (
            "Interrupted: this run paused longer than the destination's lock lasts and another run took over; "
            "that run sends what is left."
        )
    except Exception as error:
        # A bug of ours: the run says so (never "running" for ever) and the error keeps its traceback for the log.
        run.status, run.error = SyncRun.Status.FAILED, f"Ladder failed during the sync ({type(error).__name__})."
        run.finished_at = timezone.now()
        run.save()
        raise
    run.finished_at = timezone.now()
    run.save()
    if run.status == SyncRun.Status.SUCCEEDED and not dry_run:
        connection_succeeded(destination.connection)
        if full:
            Destination.objects.filter(pk=destination.pk).update(last_synced_at=run.finished_at)
    return run


def _until_slot(
    destination: Destination,
    rows: list[UploadRow],
    *,
    not_before: float,
    last_call: Callable[[], Sequence[int]] | None,
    room: int,
    currency: str,
) -> list[UploadRow]:
    """Hold a push's first request until its slot. Just before it (the last call), read who else joined since the
    push read its rows and return their rows, to go in the same request while it has room."""
    joined: list[UploadRow] = []
    if last_call is not None and room > 0:
        time.sleep(max(0.0, not_before - settings.AUDIENCE_PUSH_LAST_CALL_SECONDS - time.time()))
        held = {row.key for row in rows}
        late = [pk for pk in last_call() if str(pk) not in held]
        if late:
            adds = leads_to_add(destination).filter(pk__in=among(late))[:room]
            joined = list(upload_rows(adds, platform=destination.platform, value_currency=currency))
    time.sleep(max(0.0, not_before - time.time()))
    return joined


def _resend_changed(run: SyncRun, uploader: AudienceUploader, held: list[SyncLedger], *, mirror: bool) -> None:
    """Tell the destination a member's new identifiers: the old hashes out (mirror mode), the new ones in."""
    current = {
        int(row.key): row.hashes
        for row in upload_rows(
            Lead.objects.filter(pk__in=[entry.lead_id for entry in held]).order_by("pk"),
            platform=run.destination.platform,
            value_currency=run.destination.value_currency if run.destination.value_based else "",
        )
    }
    changed = [(entry, current[entry.lead_id]) for entry in held if current[entry.lead_id] != entry.hashes]
    if not changed:
        SyncLedger.objects.filter(pk__in=[entry.pk for entry in held]).update(changed_at=timezone.now())
        return
    run.to_update += len(changed)
    if mirror:
        old = [UploadRow(key=str(entry.lead_id), hashes=entry.hashes) for entry, _ in changed]
        batch_send(run, uploader, SyncBatch.Kind.REMOVE, old, SyncLedger.State.REMOVED)
    new = [UploadRow(key=str(entry.lead_id), hashes=hashes) for entry, hashes in changed]
    batch_send(run, uploader, SyncBatch.Kind.ADD, new, SyncLedger.State.ADDED, last=True)  # an upload of its own
    unchanged = {entry.pk for entry in held} - {entry.pk for entry, _ in changed}
    SyncLedger.objects.filter(pk__in=unchanged).update(changed_at=timezone.now())


def _close(uploader: AudienceUploader) -> None:
    """Platforms that apply a sync as one job (the Google Ads API) run it now."""
    if isinstance(uploader, AppliedOnClose):
        uploader.close()


def destination_reconcile(*, destination: Destination, uploader: Any = None) -> SyncRun:
    """Replace the platform's audience with exactly the members the ledger says it holds (Meta's ``usersreplace``),
    undoing any drift: people added or removed outside Ladder, or removals the platform acknowledged and did not
    apply. Platforms without a full replace keep to diffs, and the run says so. An empty ledger replaces nothing.
    Holds the destination's lock, as a sync does (SyncInProgress when a sync holds it)."""
    with _locked(destination):
        return _destination_reconcile(destination=destination, uploader=uploader)


def _destination_reconcile(*, destination: Destination, uploader: Any = None) -> SyncRun:
    run = SyncRun.objects.create(destination=destination, started_at=timezone.now())
    try:
        uploader = uploader or uploader_for(destination)
        batch_size = uploader.batch_size
        if not isinstance(uploader, Replaceable):
            raise IntegrationPermanentError(
                f"{destination.platform_display} destinations have no full replace; their syncs send differences."
            )
        held = SyncLedger.objects.filter(destination=destination, state=SyncLedger.State.ADDED).order_by("lead_id")
        rows = (UploadRow(key=str(entry.lead_id), hashes=entry.hashes) for entry in held.iterator(chunk_size=2000))
        for number, (batch, last) in enumerate(with_last(chunked(rows, batch_size))):
            started = time.monotonic()
            result = uploader.replace(batch, first=number == 0, last=last)
            SyncBatch.objects.create(
                run=run,
                kind=SyncBatch.Kind.REPLACE,
                size=len(batch),
                accepted=result.accepted,
                invalid=result.invalid,
                reasons=result.reasons,
                attempts=1,
                duration_ms=int((time.monotonic() - started) * 1000),
            )
            run.sent, run.accepted, run.invalid = (
                run.sent + len(batch),
                run.accepted + result.accepted,
                run.invalid + result.invalid,
            )
        run.status = SyncRun.Status.SUCCEEDED
    except IntegrationError as error:
        run_failed(run, destination, error)
    run.finished_at = timezone.now()
    run.save()
    return run
