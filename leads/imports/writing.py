"""Making, mapping, starting and running an import, and listing what it skipped (see ``leads.imports``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass
from itertools import groupby, islice
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from common.db import insert_ignoring_conflicts, rows_insert
from common.errors import ApplicationError
from common.tasks import enqueue_on_commit
from leads.batches import leads_upsert
from leads.identity import EEA_COUNTRIES, email_fingerprint
from leads.imports.reading import (
    MAX_BYTES,
    ImportInvalid,
    Row,
    csv_rows,
    file_sniff,
    mapping_guess,
    mapping_problems,
    rows_count,
    rows_read,
)
from leads.marks import leads_mark_changed
from leads.models import Consent, Event, ImportProblem, Lead, LeadImport, Suppression, Tag
from leads.normalization import normalize_country, normalize_tag

CHUNK = 2000  # rows a transaction
PREVIEW_ROWS = 10
KEEP_DAYS = 30  # how long an uploaded file is kept after its import finished

# --- making, mapping and starting an import ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Basis:
    """What the marketer states once for the whole list: who agreed to what, on which legal basis."""

    purposes: tuple[str, ...]
    wording: str
    legal_basis: str
    assume_eea: bool = True


def basis_problems(basis: Basis) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not basis.purposes:
        errors["purposes"] = ["Choose what the people on the list agreed to: without it they can never be reached."]
    elif set(basis.purposes) - set(Consent.Purpose.values):
        errors["purposes"] = [f"Choose from {', '.join(Consent.Purpose.values)}."]
    if not basis.wording.strip():
        errors["wording"] = ["Give the words the people on the list were shown when they signed up."]
    if basis.legal_basis not in Consent.LegalBasis.values:
        errors["legal_basis"] = [f"Choose one of {', '.join(Consent.LegalBasis.values)}."]
    return errors


@transaction.atomic
def import_create(
    *,
    name: str,
    upload: IO[bytes],
    filename: str,
    basis: Basis,
    default_country: str = "",
    tag_name: str = "",
    mapping: dict[str, str] | None = None,
    created_by_id: int | None = None,
) -> LeadImport:
    """A draft import of the CSV ``upload`` (stored privately, read as a stream), with ``mapping`` or one guessed
    from the header. Raises ImportInvalid, storing nothing, for a file, mapping, settings or consent statement that
    will not do."""
    errors = basis_problems(basis)
    name = " ".join(name.split())
    if not name or len(name) > 100:
        errors["name"] = ["Name the list (1 to 100 characters)."]
    country = ""
    try:
        country = normalize_country(default_country)
    except ValidationError:
        errors["default_country"] = ["Give a two-letter country code such as US, or leave it empty."]
    tag = None
    if tag_name.strip():
        try:
            tag = normalize_tag(tag_name)
        except ValidationError as error:
            errors["tag"] = list(error.messages)
    size = upload.seek(0, io.SEEK_END)
    upload.seek(0)
    if size > MAX_BYTES:
        errors["file"] = [f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it."]
    if errors:
        raise ImportInvalid(errors)
    delimiter, columns = file_sniff(upload)
    if mapping is not None and mapping_problems(columns, mapping):
        raise ImportInvalid({"mapping": mapping_problems(columns, mapping)})
    rows = rows_count(upload, delimiter)
    lead_import = LeadImport(
        name=name,
        delimiter=delimiter,
        columns=columns,
        mapping={column: (mapping or {}).get(column, "") for column in columns} if mapping else mapping_guess(columns),
        purposes=list(dict.fromkeys(basis.purposes)),
        wording=basis.wording.strip(),
        legal_basis=basis.legal_basis,
        assume_eea=basis.assume_eea,
        default_country=country,
        tag=Tag.objects.get_or_create(name=tag)[0] if tag else None,
        created_by_id=created_by_id,
        rows_total=rows,
    )
    lead_import.file.save(filename.rsplit("/", 1)[-1][-100:] or "list.csv", File(upload), save=False)
    lead_import.save()
    return lead_import


def import_map(*, lead_import: LeadImport, mapping: dict[str, str]) -> LeadImport:
    """Set a draft's column mapping; ImportInvalid naming what is wrong."""
    if lead_import.status != LeadImport.Status.DRAFT:
        raise ApplicationError("This import has started; its mapping can no longer change.", field="mapping")
    problems = mapping_problems(lead_import.columns, mapping)
    if problems:
        raise ImportInvalid({"mapping": problems})
    lead_import.mapping = {column: mapping.get(column, "") for column in lead_import.columns}
    lead_import.save(update_fields=["mapping"])
    return lead_import


def import_preview(*, lead_import: LeadImport, rows: int = PREVIEW_ROWS) -> list[Row]:
    """The first ``rows`` rows as the current mapping would import them."""
    with lead_import.file.open("rb") as handle, closing(rows_read(lead_import, handle)) as read:
        return list(islice(read, rows))


def import_start(*, lead_import: LeadImport) -> LeadImport:
    """Queue a mapped draft; the worker runs it (``import_run``)."""
    problems = mapping_problems(lead_import.columns, lead_import.mapping)
    if problems:
        raise ImportInvalid({"mapping": problems})
    updated = LeadImport.objects.filter(pk=lead_import.pk, status=LeadImport.Status.DRAFT).update(
        status=LeadImport.Status.QUEUED
    )
    if updated:
        lead_import.status = LeadImport.Status.QUEUED
        enqueue_on_commit("leads.import_run", import_id=lead_import.pk)  # imports_tidy queues it again if lost
    return lead_import


# --- running -------------------------------------------------------------------------------------------------------


@dataclass(kw_only=True, slots=True)
class Counts:
    created: int = 0
    merged: int = 0
    repeated: int = 0
    invalid: int = 0
    refused: int = 0


def _grants(lead_import: LeadImport, country: str, moment: str) -> list[dict[str, Any]]:
    """The list's consent statement for one lead. Under EEA/UK rules ad audiences need consent itself: another legal
    basis grants them nothing there."""
    eea = (country in EEA_COUNTRIES) if country else lead_import.assume_eea
    return [
        {
            "purpose": purpose,
            "status": Consent.Status.GRANTED,
            "wording": lead_import.wording,
            "source": lead_import.source,
            "legal_basis": lead_import.legal_basis,
            "eea": eea,
            "occurred_at": moment,
        }
        for purpose in lead_import.purposes
        if not (
            eea and purpose == Consent.Purpose.AD_AUDIENCES and lead_import.legal_basis != Consent.LegalBasis.CONSENT
        )
    ]


def _write(lead_import: LeadImport, rows: list[Row], started: str) -> Counts:
    """Write one chunk's rows (see the module's docstring); returns what became of them."""
    counts = Counts()
    problems = [
        ImportProblem(lead_import=lead_import, row=r.line, field=f, message=m) for r in rows for f, m in r.problems
    ]
    counts.invalid = sum(1 for row in rows if row.problems)
    good = [row for row in rows if not row.problems]
    prints = {row.email: email_fingerprint(row.email) for row in good}
    forgotten = set(
        Suppression.objects.filter(email_sha256__in=set(prints.values())).values_list("email_sha256", flat=True)
    )
    details: dict[str, dict[str, Any]] = {}
    for row in good:
        if prints[row.email] not in forgotten:
            merged = details.setdefault(row.email, {})
            for name, value in row.details.items():
                merged.setdefault(name, value)
    leads = leads_upsert(details=details)
    kept = []
    for row in good:
        if row.email in leads and not leads[row.email].erased:
            kept.append(row)
        else:
            problems.append(ImportProblem(lead_import=lead_import, row=row.line, field="email", message=REFUSED))
            counts.refused += 1
    inserted = set(
        rows_insert(
            Event,
            [
                {
                    "type": Event.Type.IMPORTED,
                    "name": "",
                    "idempotency_key": f"import:{lead_import.public_id}:{row.email}",
                    "occurred_at": started,
                    "lead_id": leads[row.email].pk,
                    "properties": {"import": lead_import.pk, "list": lead_import.name},
                }
                for row in kept
            ],
            conflict_fields=["idempotency_key"],
            returning="idempotency_key",
        )
    )
    consents = []
    for row in kept:
        lead = leads[row.email]
        key = f"import:{lead_import.public_id}:{row.email}"
        if key not in inserted:  # earlier in the file (or in this chunk)
            counts.repeated += 1
            continue
        inserted.discard(key)
        if lead.created:
            counts.created += 1
        else:
            counts.merged += 1
        moment = (row.signed_up_at.isoformat() if row.signed_up_at else None) or started
        consents += [{"lead_id": lead.pk, **grant} for grant in _grants(lead_import, lead.country, moment)]
    rows_insert(Consent, consents)
    _tag(lead_import, kept, leads)
    ImportProblem.objects.bulk_create(problems)
    if kept:
        leads_mark_changed(lead_ids=sorted({leads[row.email].pk for row in kept}))
    return counts


REFUSED = "asked to be forgotten; not imported"


def _tag(lead_import: LeadImport, rows: list[Row], leads: dict[str, Any]) -> None:
    names = {name for row in rows for name in row.tags}
    if lead_import.tag is not None:
        names.add(lead_import.tag.name)
    if not names:
        return
    insert_ignoring_conflicts([Tag(name=name) for name in sorted(names)], conflict_fields=["name"])
    ids = dict(Tag.objects.filter(name__in=names).values_list("name", "pk"))
    links = {(leads[row.email].pk, ids[name]) for row in rows for name in row.tags}
    if lead_import.tag is not None:
        links |= {(leads[row.email].pk, lead_import.tag.pk) for row in rows}
    rows_insert(
        Lead.tags.through,
        [{"lead_id": lead, "tag_id": tag} for lead, tag in sorted(links)],
        conflict_fields=["lead", "tag"],
    )


def import_run(
    *, import_id: int, max_seconds: float = 300.0, progress: Callable[[LeadImport], None] | None = None
) -> bool:
    """Run a queued import a chunk at a time, each chunk committed with the import's counts and ``rows_done`` (the
    row lock on the import keeps two workers from writing one chunk twice). Returns whether it has finished; one that
    has not (``max_seconds`` spent) is resumed by the caller from where it stopped."""
    started = time.monotonic()
    with closing(_Stream()) as stream:
        return _run(import_id, stream, started + max_seconds, progress)


def _run(import_id: int, stream: _Stream, deadline: float, progress: Callable[[LeadImport], None] | None) -> bool:
    while True:
        with transaction.atomic():
            lead_import = LeadImport.objects.select_for_update(of=("self",)).select_related("tag").get(pk=import_id)
            if lead_import.status not in (LeadImport.Status.QUEUED, LeadImport.Status.RUNNING):
                return True
            if lead_import.started_at is None:
                lead_import.started_at = timezone.now()
            lead_import.status = LeadImport.Status.RUNNING
            try:
                chunk = stream.chunk(lead_import)
            except (OSError, UnicodeDecodeError, csv.Error) as error:
                _fail(lead_import, error)
                return True
            counts = _write(lead_import, chunk, lead_import.started_at.isoformat())
            for name in ("created", "merged", "repeated", "invalid", "refused"):
                setattr(lead_import, name, getattr(lead_import, name) + getattr(counts, name))
            lead_import.rows_done += len(chunk)
            if len(chunk) < CHUNK:
                lead_import.status = LeadImport.Status.DONE
                lead_import.finished_at = timezone.now()
                lead_import.rows_total = lead_import.rows_done
            lead_import.save()
        if progress is not None:
            progress(lead_import)
        if lead_import.status == LeadImport.Status.DONE:
            return True
        if time.monotonic() > deadline:
            return False


class _Stream:
    """The file read on from where the import stands, kept open from chunk to chunk; read again from the start (and
    skipped to the import's position) only when another run has moved the import on meanwhile."""

    def __init__(self) -> None:
        self.handle: Any = None
        self.rows: Generator[Row] | None = None
        self.at = -1

    def chunk(self, lead_import: LeadImport) -> list[Row]:
        if self.rows is None or self.at != lead_import.rows_done:
            self.close()
            self.handle = lead_import.file.open("rb")
            self.rows = rows_read(lead_import, self.handle, skip=lead_import.rows_done)
            self.at = lead_import.rows_done
        chunk = list(islice(self.rows, CHUNK))
        self.at += len(chunk)
        return chunk

    def close(self) -> None:
        if self.rows is not None:
            self.rows.close()
        if self.handle is not None:
            self.handle.close()
        self.rows = self.handle = None


def _fail(lead_import: LeadImport, error: Exception) -> None:
    reason = "The uploaded file can no longer be read" if isinstance(error, OSError) else f"The file broke: {error}"
    lead_import.status = LeadImport.Status.FAILED
    lead_import.reason = f"{reason} (after {lead_import.rows_done:,} rows)."[:300]
    lead_import.finished_at = timezone.now()
    lead_import.save()


# --- what went wrong -----------------------------------------------------------------------------------------------


def problems_csv(lead_import: LeadImport) -> Iterator[list[str]]:
    """The skipped rows, as the file has them, each with its line and what was wrong: a file to fix and upload again.
    The problems (in line order) and the file are read side by side as streams."""
    yield ["line", "problems", *lead_import.columns]
    problems = ImportProblem.objects.filter(lead_import=lead_import).order_by("row", "id")
    lines = groupby(problems.values_list("row", "field", "message").iterator(chunk_size=2000), key=lambda p: p[0])
    pending = [(line, "; ".join(f"{field} {message}" for _, field, message in group)) for line, group in lines]
    if not pending:
        return
    try:
        handle = lead_import.file.open("rb")
    except (OSError, ValueError):  # the upload was deleted: the reasons without the rows
        yield from ([str(line), reasons] for line, reasons in pending)
        return
    with handle:
        wanted = iter(pending)
        line, reasons = next(wanted)
        for number, cells in enumerate(csv_rows(handle, lead_import.delimiter), start=1):
            if number == line:
                yield [str(line), reasons, *cells]
                following = next(wanted, None)
                if following is None:
                    return
                line, reasons = following


def imports_tidy(*, now: dt.datetime | None = None) -> int:
    """Hourly: queue imports whose task was lost, and delete uploads finished more than KEEP_DAYS ago (their rows
    hold personal data; the problems list stays). Returns how many were queued."""
    now = now or timezone.now()
    stuck = LeadImport.objects.filter(
        status__in=[LeadImport.Status.QUEUED, LeadImport.Status.RUNNING], created_at__lt=now - dt.timedelta(minutes=5)
    )
    pks = list(stuck.values_list("pk", flat=True))
    for pk in pks:
        enqueue_on_commit("leads.import_run", import_id=pk)
    old = LeadImport.objects.filter(finished_at__lt=now - dt.timedelta(days=KEEP_DAYS)).exclude(file="")
    for lead_import in old:
        lead_import.file.delete(save=False)
        LeadImport.objects.filter(pk=lead_import.pk).update(file="")
    return len(pks)
