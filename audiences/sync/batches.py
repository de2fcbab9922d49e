"""Sending one batch, retried on transient errors, and recording what the platform accepted in the ledger."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import connection
from django.utils import timezone

from audiences.models import SyncBatch, SyncLedger, SyncRun
from common.db import rows_insert
from integrations.audience_upload import AudienceUploader, UploadResult, UploadRow
from integrations.errors import (
    IntegrationPermanentError,
    IntegrationTransientError,
)
from integrations.protocols import KeepsPayloads

ATTEMPTS = 3
MAX_INLINE_WAIT = 5.0  # seconds a sync waits in place for a rate limit to pass


class Recorder:
    """Records accepted batches on a thread of its own (PostgreSQL, outside a transaction), so the database's work on
    one batch overlaps the hashing and upload of the next: at most one batch waits, in order. Inline otherwise (in a
    transaction, or on SQLite, another thread could not see, or would block on, the caller's writes). A batch the
    platform took but a crash kept from the ledger is simply sent again by the next run."""

    def __init__(self, *, threaded: bool | None = None) -> None:
        if threaded is None:
            threaded = connection.vendor == "postgresql" and not connection.in_atomic_block
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-ledger") if threaded else None
        self._pending: Future[None] | None = None

    def record(self, write: Callable[[], None]) -> None:
        if self._pool is None:
            write()
            return
        self.flush()
        self._pending = self._pool.submit(write)

    def flush(self) -> None:
        """Wait for the batch being recorded; its error, if any, is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._pool is not None:
                self._pool.submit(lambda: connection.close()).result()  # the thread's own database connection
                self._pool.shutdown()


def batch_send(
    run: SyncRun,
    uploader: AudienceUploader,
    kind: str,
    rows: list[UploadRow],
    state: str,
    *,
    last: bool = False,
    recorder: Recorder | None = None,
) -> None:
    """One batch, retried on transient errors; once accepted, the recorder writes it and the ledger rows."""
    batch = SyncBatch(run=run, kind=kind, size=len(rows))
    if isinstance(uploader, KeepsPayloads) and uploader.records_payload:
        batch.payload = [row.hashes for row in rows]
    started = time.monotonic()
    result: UploadResult | None = None
    error: Exception | None = None
    for attempt in range(1, ATTEMPTS + 1):
        batch.attempts = attempt
        try:
            result = uploader.add(rows, last=last) if kind == SyncBatch.Kind.ADD else uploader.remove(rows)
            break
        except IntegrationTransientError as transient:
            error = transient
            if attempt == ATTEMPTS or (transient.retry_after or 0) > MAX_INLINE_WAIT:
                break  # the platform asks for longer than a worker should hold on: the next run takes it up
            run.retries += 1
            time.sleep(max(min(0.2 * 2**attempt, 2.0), transient.retry_after or 0))
        except IntegrationPermanentError as permanent:
            error = permanent
            break
    batch.duration_ms = int((time.monotonic() - started) * 1000)
    if result is None:
        batch.error = str(error)[:2000]
        batch.save()
        assert error is not None  # noqa: S101 (no result means an error was caught)
        raise error
    batch.accepted, batch.invalid, batch.reasons = result.accepted, result.invalid, result.reasons
    if result.request_id:  # applied later: the outcome is asked for, and a failed request is sent again
        batch.request_id, batch.remote_status = result.request_id, SyncBatch.RemoteStatus.PROCESSING
        batch.lead_ids = [int(row.key) for row in rows]
    run.sent += len(rows)
    run.accepted += result.accepted
    run.invalid += result.invalid
    if recorder is None:
        _record(run, batch, rows, state)
    else:
        recorder.record(lambda: _record(run, batch, rows, state))


def _record(run: SyncRun, batch: SyncBatch, rows: list[UploadRow], state: str) -> None:
    """An accepted batch: its SyncBatch, and the ledger told what the platform now holds."""
    batch.save()
    changed_at = timezone.now().isoformat()
    rows_insert(  # one JSON document for the batch: a fraction of the cost of binding each row's values
        SyncLedger,
        [
            {
                "destination_id": run.destination_id,
                "lead_id": int(row.key),
                "hashes": row.hashes,
                "state": state,
                "run_id": run.pk,
                "changed_at": changed_at,
            }
            for row in rows
        ],
        conflict_fields=["destination", "lead"],
        update_fields=["hashes", "state", "run_id", "changed_at"],
    )
