"""Requests a platform applies later (Google): asking what became of them, and putting failed members back in the
diff."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from audiences.models import Destination, SyncBatch, SyncLedger, SyncRun
from audiences.sync.pausing import run_failed
from audiences.sync.platforms import uploader_for
from integrations.errors import (
    IntegrationBlockedError,
    IntegrationError,
)
from integrations.google import datamanager as google_audiences

REQUEST_SETTLE_LIMIT = dt.timedelta(days=2)  # a request the platform has not settled by then is sent again


def requests_outcome_check(*, destination: Destination, uploader: Any = None) -> int:
    """Ask the platform what became of the requests it took to apply later (Google) and record its answer on each
    batch: applied, partly applied (the failed records counted by reason), or failed. A failed request's members go
    back into the next diff (an add is sent again, a removal too), as does a request Google still has not settled
    after ``REQUEST_SETTLE_LIMIT``. Answers how many members were put back."""
    pending = SyncBatch.objects.filter(run__destination=destination, remote_status=SyncBatch.RemoteStatus.PROCESSING)
    if not pending.exists():
        return 0
    uploader = uploader or uploader_for(destination)
    put_back = 0
    outcomes: dict[str, Any] = {}  # a Google Ads job holds every batch of its sync: asked about once
    for batch in pending.order_by("id"):
        try:
            if batch.request_id not in outcomes:
                outcomes[batch.request_id] = uploader.request_status(batch.request_id)
        except IntegrationError:
            break  # unreachable or throttled: asked again next time
        outcome = outcomes[batch.request_id]
        status, reasons = outcome.status, outcome.reasons
        if status == SyncBatch.RemoteStatus.PROCESSING:
            if timezone.now() - batch.created_at < REQUEST_SETTLE_LIMIT:
                continue
            status, reasons = SyncBatch.RemoteStatus.FAILED, {"not settled in time": batch.accepted}
        with transaction.atomic():
            batch.remote_status = status
            batch.reasons = {**batch.reasons, **reasons}
            failed = batch.accepted if status == SyncBatch.RemoteStatus.FAILED else min(outcome.failed, batch.accepted)
            batch.accepted, batch.invalid = batch.accepted - failed, batch.invalid + failed
            if status == SyncBatch.RemoteStatus.FAILED:
                batch.error = f"The platform failed this request: {_reasons_text(reasons)}. Its members are resent."
                put_back += _put_back(batch)
            batch.save()
            if refused := set(reasons) & google_audiences.BLOCKING_REASONS:
                # Sending again would be refused again: the destination waits for a person instead.
                now = timezone.now()
                run = SyncRun(destination=destination, started_at=now, finished_at=now)
                run_failed(
                    run, destination, IntegrationBlockedError(f"Google refused members: {', '.join(sorted(refused))}.")
                )
                run.save()
                break
    return put_back


def _put_back(batch: SyncBatch) -> int:
    """The batch's members as the ledger held them before it, unless a later batch has told the platform since."""
    before = SyncLedger.State.REMOVED if batch.kind == SyncBatch.Kind.ADD else SyncLedger.State.ADDED
    after = SyncLedger.State.ADDED if batch.kind == SyncBatch.Kind.ADD else SyncLedger.State.REMOVED
    return SyncLedger.objects.filter(
        destination_id=batch.run.destination_id, run_id=batch.run_id, lead_id__in=batch.lead_ids or [], state=after
    ).update(state=before, changed_at=timezone.now())


def _reasons_text(reasons: dict[str, int]) -> str:
    return ", ".join(f"{reason} ({count})" for reason, count in reasons.items()) or "no reason given"
