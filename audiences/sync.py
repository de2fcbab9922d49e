"""Syncing an audience to a destination: send only the difference between the members and the ledger.

Who may be uploaded: members of the audience, not erased, whose latest ad-audience consent is a grant. The diff
is two queries: members the ledger does not hold as added (to add), and ledger rows held as added whose lead is
no longer eligible (to remove, in mirror mode). Rows go out in the destination's batch size; the ledger records
each accepted batch, so a failed batch is simply part of the next diff and the ledger converges.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BigIntegerField, Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.utils import timezone

from analytics.models import CustomerValue
from audiences.models import Audience, AudienceMember, Destination, SyncBatch, SyncLedger, SyncRun
from audiences.rules import granted_now
from common.db import rows_insert, statistics_refresh
from common.errors import ApplicationError
from common.locks import Lock, LockLost
from common.money import currency_exponent
from integrations import google_ads_audiences, google_audiences, meta_audiences
from integrations.audience_upload import AudienceUploader, SandboxUploader, UploadResult, UploadRow
from integrations.errors import (
    IntegrationBlockedError,
    IntegrationCredentialsError,
    IntegrationError,
    IntegrationPermanentError,
    IntegrationTransientError,
)
from integrations.identifiers import GoogleHasher, MetaHasher
from integrations.webhook_upload import WebhookUploader
from leads.models import Consent, Lead

ATTEMPTS = 3
MAX_INLINE_WAIT = 5.0  # seconds a sync waits in place for a rate limit to pass
TRANSIENT_PAUSE = 300  # seconds before the next scheduled attempt when a platform kept failing without saying
PREVIEW_ROWS = 20
REQUEST_SETTLE_LIMIT = dt.timedelta(days=2)  # a request the platform has not settled by then is sent again


def eligible_leads(audience: Audience) -> QuerySet[Lead]:
    """Members who may be uploaded: not erased, with ad-audience consent granted now."""
    return Lead.objects.filter(
        audience_memberships__audience=audience,
        erased_at__isnull=True,
        pk__in=granted_now(Consent.Purpose.AD_AUDIENCES),
    ).order_by("pk")


def leads_to_add(destination: Destination) -> QuerySet[Lead]:
    held = SyncLedger.objects.filter(destination=destination, lead=OuterRef("pk"), state=SyncLedger.State.ADDED)
    return eligible_leads(destination.audience).exclude(Exists(held))


def ledger_to_remove(destination: Destination) -> QuerySet[SyncLedger]:
    # NOT EXISTS, not NOT IN: PostgreSQL turns it into an anti join, where NOT IN over a million eligible members
    # (too many to hash in work_mem) re-reads the subquery for every ledger row.
    eligible = eligible_leads(destination.audience).filter(pk=OuterRef("lead_id"))
    return (
        SyncLedger.objects.filter(destination=destination, state=SyncLedger.State.ADDED)
        .exclude(Exists(eligible))
        .order_by("lead_id")
    )


def ledger_maybe_changed(destination: Destination) -> QuerySet[SyncLedger]:
    """Held members edited since the destination was told about them: their identifiers may have changed; for a
    value-based destination also those scored since (their value may have changed)."""
    eligible = eligible_leads(destination.audience).values("pk")
    changed = Q(lead__updated_at__gt=F("changed_at"))
    if destination.value_based:
        rescored = CustomerValue.objects.filter(
            lead_id=OuterRef("lead_id"), currency=destination.value_currency, scored_at__gt=OuterRef("changed_at")
        )
        changed |= Q(Exists(rescored))
    return (
        SyncLedger.objects.filter(changed, destination=destination, state=SyncLedger.State.ADDED, lead_id__in=eligible)
        .select_related("lead")
        .order_by("lead_id")
    )


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
        _send(run, uploader, SyncBatch.Kind.REMOVE, old, SyncLedger.State.REMOVED)
    new = [UploadRow(key=str(entry.lead_id), hashes=hashes) for entry, hashes in changed]
    _send(run, uploader, SyncBatch.Kind.ADD, new, SyncLedger.State.ADDED, last=True)  # an upload of its own
    unchanged = {entry.pk for entry in held} - {entry.pk for entry, _ in changed}
    SyncLedger.objects.filter(pk__in=unchanged).update(changed_at=timezone.now())


IDENTITY_FIELDS = ("email", "phone", "first_name", "last_name", "city", "region", "postal_code", "country")


def hasher_for(platform: str) -> MetaHasher | GoogleHasher:
    """Each platform normalizes and hashes in its own way; the others take Meta's multi-key schema."""
    return GoogleHasher() if platform == Destination.Platform.GOOGLE else MetaHasher()


def lead_hashes(lead: Lead, *, platform: str = Destination.Platform.META) -> dict[str, str]:
    fields = {field: getattr(lead, field) for field in IDENTITY_FIELDS}
    return hasher_for(platform).hashes(**fields, phone_is_stored=True, external_id=str(lead.public_id))


def upload_rows(
    leads: QuerySet[Lead], *, platform: str = "meta", chunk_size: int = 5000, value_currency: str = ""
) -> Iterator[UploadRow]:
    """Each lead's upload row, streamed (a server-side cursor on PostgreSQL) as plain values, not model objects.

    With ``value_currency`` (a value-based destination) each row also carries the lead's predicted lifetime value in
    that currency, in major units to two significant digits (0 without a prediction) under ``LOOKALIKE_VALUE``: the
    platform ranks people by it, and the rounding keeps a nightly refit's small changes from resending everyone."""
    hasher = hasher_for(platform)
    values = leads.annotate(
        predicted=Subquery(
            CustomerValue.objects.filter(lead_id=OuterRef("pk"), currency=value_currency).values(
                "predicted_value_minor"
            )[:1]
        )
        if value_currency
        else Value(None, output_field=BigIntegerField())
    )
    exponent = currency_exponent(value_currency) if value_currency else 0
    columns = values.values_list("pk", "public_id", *IDENTITY_FIELDS, "predicted")
    for (
        pk, public_id, email, phone, first_name, last_name, city, region, postal_code, country, predicted,
    ) in columns.iterator(chunk_size=chunk_size):  # fmt: skip
        hashes = hasher.hashes(
            email=email,
            phone=phone,
            first_name=first_name,
            last_name=last_name,
            city=city,
            region=region,
            postal_code=postal_code,
            country=country,
            phone_is_stored=True,
            external_id=str(public_id),
        )
        if value_currency:
            hashes[meta_audiences.VALUE] = _two_digits(max(predicted or 0, 0) / 10**exponent)
        yield UploadRow(key=str(pk), hashes=hashes)


def _two_digits(amount: float) -> str:
    """An amount to two significant digits, as text: 1234.5 → "1200", 0.987 → "0.99", 0 → "0"."""
    return "0" if amount <= 0 else f"{float(f'{amount:.2g}'):g}"


def uploader_for(destination: Destination) -> AudienceUploader:
    if destination.platform == Destination.Platform.SANDBOX:
        return SandboxUploader()
    if destination.platform == Destination.Platform.WEBHOOK:
        if not destination.endpoint_url.startswith("https://") and not settings.WEBHOOK_DESTINATIONS_ALLOW_HTTP:
            raise IntegrationPermanentError("The webhook's URL must use https://; change it on the destination.")
        return WebhookUploader(
            url=destination.endpoint_url,
            secret=destination.credentials,
            audience=destination.remote_audience_id or destination.audience.slug,
        )
    name = destination.audience.name
    description = f"Kept in step by Ladder from the audience {destination.audience.slug!r}."
    customer_id = google_audiences.customer_id_normalized(destination.account_id)
    login = google_audiences.customer_id_normalized(destination.login_customer_id)
    if destination.platform == Destination.Platform.META:
        audience_id = _remote_audience(
            destination,
            lambda: meta_audiences.audience_create(
                access_token=destination.credentials,
                ad_account_id=destination.account_id,
                name=name,
                description=description,
                app_secret=settings.META_APP_SECRET,
                value_based=destination.value_based,
            ),
        )
        return meta_audiences.MetaUploader(
            access_token=destination.credentials,
            audience_id=audience_id,
            app_secret=settings.META_APP_SECRET,
            value_based=destination.value_based,
        )
    if (
        destination.platform == Destination.Platform.GOOGLE
        and destination.google_api == Destination.GoogleApi.GOOGLE_ADS
    ):
        user_list = _remote_audience(
            destination,
            lambda: google_ads_audiences.user_list_create(
                credentials=destination.credentials,
                customer_id=customer_id,
                login_customer_id=login,
                name=name,
                description=description,
            ),
        )
        return google_ads_audiences.GoogleAdsUploader(
            credentials=destination.credentials, customer_id=customer_id, user_list=user_list, login_customer_id=login
        )
    if destination.platform == Destination.Platform.GOOGLE:
        user_list_id = _remote_audience(
            destination,
            lambda: google_audiences.user_list_create(
                credentials=destination.credentials, customer_id=customer_id, name=name, description=description
            ),
        )
        return google_audiences.GoogleUploader(
            credentials=destination.credentials,
            customer_id=customer_id,
            user_list_id=user_list_id,
            login_customer_id=login,
        )
    raise IntegrationPermanentError(f"Ladder cannot upload to {destination.platform!r} destinations.")


def _remote_audience(destination: Destination, create: Callable[[], str]) -> str:
    """The platform's audience (or list) for the destination: created once, on the first sync, and kept."""
    if not destination.remote_audience_id:
        destination.remote_audience_id = create()
        Destination.objects.filter(pk=destination.pk).update(remote_audience_id=destination.remote_audience_id)
    return destination.remote_audience_id


def credentials_verify(destination: Destination) -> None:
    """Ask the destination's platform whether its credentials reach its account (Meta and Google; the others have
    nothing to ask): raises the platform's integration error if not. The destination need not be saved."""
    customer_id = google_audiences.customer_id_normalized(destination.account_id)
    login = google_audiences.customer_id_normalized(destination.login_customer_id)
    if destination.platform == Destination.Platform.META:
        meta_audiences.credentials_check(
            access_token=destination.credentials,
            ad_account_id=destination.account_id,
            app_secret=settings.META_APP_SECRET,
        )
    elif (
        destination.platform == Destination.Platform.GOOGLE
        and destination.google_api == Destination.GoogleApi.GOOGLE_ADS
    ):
        google_ads_audiences.credentials_check(
            credentials=destination.credentials, customer_id=customer_id, login_customer_id=login
        )
    elif destination.platform == Destination.Platform.GOOGLE and customer_id:
        google_audiences.credentials_check(credentials=destination.credentials, customer_id=customer_id)


def destination_credentials_check(*, destination: Destination) -> SyncRun | None:
    """The daily check: a token its platform refuses pauses the destination and leaves a failed run saying why;
    returns that run, else None."""
    try:
        credentials_verify(destination)
    except IntegrationCredentialsError as error:
        now = timezone.now()
        run = SyncRun(destination=destination, started_at=now, finished_at=now)
        _failed(run, destination, error)  # pauses it, as a sync refused for its credentials does
        run.error = f"Daily credentials check: {run.error}"[:2000]
        run.save()
        return run
    except IntegrationError:
        return None  # the platform unreachable or throttled: the next check, or the next sync, will tell
    return None


def chunked(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def with_last(items: Iterator[Any]) -> Iterator[tuple[Any, bool]]:
    """Each item, and whether it is the last one (one item read ahead)."""
    iterator = iter(items)
    try:
        current = next(iterator)
    except StopIteration:
        return
    for following in iterator:
        yield current, False
        current = following
    yield current, True


class SyncInProgress(ApplicationError):
    """Another run holds the destination: one run at a time sends to it."""


def destination_lock(destination: Destination) -> Lock:
    return Lock(f"audiences:sync:{destination.pk}", lapse=settings.AUDIENCE_SYNC_LOCK_SECONDS)


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
) -> SyncRun:
    """Send what changed, holding the destination's lock (renewed after every batch) whoever asks: the scheduled
    task, the admin's "Sync now", ``audience_sync``. A dry run counts and previews the first rows, sends nothing,
    changes no ledger and takes no lock. Raises SyncInProgress when another run holds the destination."""
    if dry_run:
        return _destination_sync(destination=destination, dry_run=True, uploader=uploader, progress=progress)
    with _locked(destination) as lock:

        def renewing(sent: int) -> None:
            lock.renew()  # LockLost: this run paused past the lapse and another took over
            if progress is not None:
                progress(sent)

        return _destination_sync(destination=destination, uploader=uploader, progress=renewing)


def _destination_sync(
    *,
    destination: Destination,
    dry_run: bool = False,
    uploader: AudienceUploader | None = None,
    progress: Callable[[int], None] | None = None,
) -> SyncRun:
    for model in (SyncLedger, AudienceMember, Consent, Lead):  # the diff's plan needs statistics from after bulk writes
        statistics_refresh(model)
    run = SyncRun.objects.create(destination=destination, dry_run=dry_run, started_at=timezone.now())
    adds, removes = leads_to_add(destination), ledger_to_remove(destination)
    mirror = destination.mode == Destination.Mode.MIRROR
    currency = destination.value_currency if destination.value_based else ""
    run.to_add, run.to_remove = adds.count(), removes.count() if mirror else 0
    try:
        uploader = uploader or uploader_for(destination)
        if (
            not dry_run
            and hasattr(uploader, "request_status")
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
                    _send(run, uploader, SyncBatch.Kind.ADD, rows, SyncLedger.State.ADDED, last=last, recorder=recorder)
                    if progress:
                        progress(len(rows))
                recorder.flush()  # the ledger holds every add before the next queries read it
            finally:
                recorder.close()
            for held in chunked(ledger_maybe_changed(destination).iterator(chunk_size=2000), uploader.batch_size):
                _resend_changed(run, uploader, held, mirror=mirror)
            if mirror:
                for held in chunked(removes.iterator(chunk_size=2000), uploader.batch_size):
                    rows = [UploadRow(key=str(entry.lead_id), hashes=entry.hashes) for entry in held]
                    _send(run, uploader, SyncBatch.Kind.REMOVE, rows, SyncLedger.State.REMOVED)
                    if progress:
                        progress(len(rows))
            _close(uploader)
        run.status = SyncRun.Status.SUCCEEDED
    except IntegrationError as error:
        _failed(run, destination, error)
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
        Destination.objects.filter(pk=destination.pk).update(last_synced_at=run.finished_at, wait_until=None)
    return run


def _close(uploader: AudienceUploader) -> None:
    """Platforms that apply a sync as one job (the Google Ads API) run it now."""
    if hasattr(uploader, "close"):
        uploader.close()


def _failed(run: SyncRun, destination: Destination, error: IntegrationError) -> None:
    """A run that ended on the platform's error: what the destination does next depends on the kind of error."""
    run.status = SyncRun.Status.FAILED
    if isinstance(error, IntegrationCredentialsError | IntegrationBlockedError):
        # Waiting for a person: the schedule stops until the destination is fixed and switched on again.
        run.error = f"{error} The destination is paused."[:2000]
        Destination.objects.filter(pk=destination.pk).update(is_active=False)
    elif isinstance(error, IntegrationTransientError):
        # The platform asked for a pause (or kept failing): the schedule waits as long as it said, else a while.
        wait = dt.timedelta(seconds=error.retry_after or TRANSIENT_PAUSE)
        run.error = f"{error} Next attempt after a {_minutes(wait)} pause."[:2000]
        Destination.objects.filter(pk=destination.pk).update(wait_until=timezone.now() + wait)
    else:
        run.error = str(error)[:2000]


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
        if not hasattr(uploader, "replace"):
            raise IntegrationPermanentError(
                f"{destination.get_platform_display()} destinations have no full replace; their syncs send differences."
            )
        held = SyncLedger.objects.filter(destination=destination, state=SyncLedger.State.ADDED).order_by("lead_id")
        rows = (UploadRow(key=str(entry.lead_id), hashes=entry.hashes) for entry in held.iterator(chunk_size=2000))
        for number, (batch, last) in enumerate(with_last(chunked(rows, uploader.batch_size))):
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
        _failed(run, destination, error)
    run.finished_at = timezone.now()
    run.save()
    return run


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
                _failed(
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


def _minutes(wait: dt.timedelta) -> str:
    return f"{max(1, round(wait.total_seconds() / 60))}-minute"


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


def _send(
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
    if getattr(uploader, "records_payload", False):
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


def destinations_holding(*, lead_ids: list[int]) -> list[int]:
    """Active destinations that hold any of these leads and would now remove at least one of them."""
    if not lead_ids:
        return []
    due = []
    for destination in Destination.objects.filter(is_active=True, mode=Destination.Mode.MIRROR).select_related(
        "audience"
    ):
        if ledger_to_remove(destination).filter(lead_id__in=lead_ids).exists():
            due.append(destination.pk)
    return due
