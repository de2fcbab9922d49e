"""Importing an existing list: a CSV file read as a stream, its columns mapped onto a lead's fields, every row checked,
and the good ones written a chunk at a time as the capture inbox writes opt-ins.

An import is made as a draft (``import_create``: the file is stored privately and counted, its columns named and a
mapping guessed), previewed and mapped (``import_preview``, ``import_map``), then queued (``import_start``) and run by
a worker (``import_run``), which commits each chunk with the import's progress, so a run killed halfway goes on where
it stopped and writes nothing twice. Per row: the address is normalized and deduplicated into the lead that has it
(whose empty fields are filled in, never replaced); an address that asked to be forgotten is refused; the marketer's
statement of the list's consent basis becomes a consent row per purpose with the import as its source; the lead gets
an ``imported`` event (its timeline, the pipeline's rules) and the import's tag, and is marked changed so audiences
take it in at their next evaluation. A row that cannot be imported is recorded by line number and field; the file
keeps its values (problem messages never copy them), and ``problems_csv`` lists each such row beside its reasons.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from itertools import groupby, islice
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from common.db import insert_ignoring_conflicts, rows_insert
from common.errors import ApplicationError
from common.tasks import enqueue_on_commit
from leads.models import Consent, Event, ImportProblem, Lead, LeadImport, Suppression, Tag
from leads.normalization import normalize_country, normalize_email, normalize_phone, normalize_tag
from leads.services import EEA_COUNTRIES, NAME_MAX, email_fingerprint, leads_mark_changed, leads_upsert

# Lead fields a column can fill; "" ignores the column.
FIELDS: dict[str, str] = {
    "email": "E-mail (required)",
    "first_name": "First name",
    "last_name": "Last name",
    "full_name": "Full name (split at the first space)",
    "phone": "Phone",
    "country": "Country (ISO code)",
    "region": "State or region",
    "city": "City",
    "postal_code": "Postal code",
    "company_size": "Company size (employees)",
    "tags": "Tags (separated by , or ;)",
    "signed_up_at": "Signed up at (date the consent was given)",
    "": "Ignore this column",
}
# Header names each field is guessed from, compared without case, spaces or punctuation.
_GUESSES: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "mail", "e-mail"),
    "first_name": ("firstname", "first", "givenname", "fname", "forename"),
    "last_name": ("lastname", "last", "surname", "familyname", "lname"),
    "full_name": ("name", "fullname", "contactname"),
    "phone": ("phone", "phonenumber", "mobile", "mobilephone", "cell", "tel", "telephone"),
    "country": ("country", "countrycode"),
    "region": ("region", "state", "province", "county"),
    "city": ("city", "town"),
    "postal_code": ("postalcode", "postcode", "zip", "zipcode"),
    "company_size": ("companysize", "employees", "numberofemployees", "headcount"),
    "tags": ("tags", "tag", "labels", "segments"),
    "signed_up_at": ("signedup", "signedupat", "subscribed", "subscribedat", "optindate", "consentdate", "joined"),
}
MAX_BYTES = 100 * 1024 * 1024
MAX_ROWS = 1_000_000
MAX_COLUMNS = 100
CHUNK = 2000
PREVIEW_ROWS = 10
LENGTHS = {"region": 100, "city": 100, "postal_code": 20}
COMPANY_SIZE_MAX = 10_000_000
EARLIEST = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
KEEP_DAYS = 30  # how long an uploaded file is kept after its import finished


class ImportInvalid(ApplicationError):
    """What is wrong with a file, a mapping or an import's settings, by field."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items()))
        self.errors = errors


@dataclass(kw_only=True, slots=True)
class Row:
    """One line of the file as it will be written, or the problems that keep it out."""

    line: int
    email: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    signed_up_at: dt.datetime | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)


# --- reading the file ----------------------------------------------------------------------------------------------


@contextmanager
def _text(handle: IO[bytes]) -> Iterator[io.TextIOWrapper]:
    """The bytes as text, the handle left open (and rewound) afterwards for the caller."""
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    try:
        yield text
    finally:
        if not handle.closed:  # a reader dropped after its file was closed has nothing to give back
            text.detach()
            handle.seek(0)


def _reader(handle: IO[bytes], delimiter: str) -> Generator[list[str]]:
    with _text(handle) as text:
        yield from csv.reader(text, delimiter=delimiter)


def _sniff(handle: IO[bytes]) -> tuple[str, list[str]]:
    """The delimiter (comma, semicolon or tab) and the header row, or ImportInvalid saying what is wrong."""
    try:
        with _text(handle) as text:
            sample = text.read(64 * 1024)
    except UnicodeDecodeError:
        raise ImportInvalid({"file": ["The file is not UTF-8 text; save it as “CSV UTF-8”."]}) from None
    first = sample.splitlines()[0] if sample.strip() else ""
    if not first:
        raise ImportInvalid({"file": ["The file is empty; it needs a header row naming its columns."]})
    delimiter = max((",", ";", "\t"), key=first.count)
    try:
        header = next(csv.reader([first], delimiter=delimiter))
    except csv.Error:
        raise ImportInvalid({"file": ["The header row is not CSV."]}) from None
    header = [name.strip() for name in header]
    if len(header) > MAX_COLUMNS:
        raise ImportInvalid({"file": [f"At most {MAX_COLUMNS} columns; remove the ones not needed."]})
    if any(not name for name in header) or len(set(header)) != len(header):
        raise ImportInvalid({"file": ["Each column needs a name of its own in the header row."]})
    return delimiter, header


def _count(handle: IO[bytes], delimiter: str) -> int:
    """Rows after the header, read as a stream; ImportInvalid for a file that is not CSV or is too long."""
    rows = 0
    reader = _reader(handle, delimiter)
    try:
        for rows, _ in enumerate(reader):  # noqa: B007  (the last index is the count)
            if rows > MAX_ROWS:
                raise ImportInvalid({"file": [f"At most {MAX_ROWS:,} rows an import; split the file."]})
    except UnicodeDecodeError:
        raise ImportInvalid({"file": ["The file is not UTF-8 text; save it as “CSV UTF-8”."]}) from None
    except csv.Error as error:
        raise ImportInvalid({"file": [f"The file is not valid CSV near line {rows + 2}: {error}."]}) from None
    finally:
        reader.close()
    if rows == 0:
        raise ImportInvalid({"file": ["The file has a header row but no rows."]})
    return rows


def _simplified(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def mapping_guess(columns: Iterable[str]) -> dict[str, str]:
    """Each column's field by its name; a field is guessed for one column at most."""
    taken: set[str] = set()
    mapping = {}
    for column in columns:
        simple = _simplified(column)
        guess = next(
            (name for name, words in _GUESSES.items() if name not in taken and simple in map(_simplified, words)), ""
        )
        if guess:
            taken.add(guess)
        mapping[column] = guess
    return mapping


def mapping_problems(columns: list[str], mapping: dict[str, str]) -> list[str]:
    problems = []
    unknown = set(mapping) - set(columns)
    if unknown:
        problems.append(f"The file has no column {sorted(unknown)[0]!r}.")
    bad = sorted({target for target in mapping.values() if target not in FIELDS})
    if bad:
        problems.append(f"{bad[0]!r} is not a lead field; use one of {', '.join(name for name in FIELDS if name)}.")
    targets = [target for target in mapping.values() if target and target != "tags"]
    twice = sorted({target for target in targets if targets.count(target) > 1})
    if twice:
        problems.append(f"Only one column can be {FIELDS[twice[0]]}.")
    if "email" not in mapping.values():
        problems.append("Choose the column that holds the e-mail address.")
    return problems


# --- checking a row ------------------------------------------------------------------------------------------------


def _when(text: str) -> dt.datetime:
    value = text.strip().replace("Z", "+00:00")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError("is not a date as YYYY-MM-DD (a time may follow)") from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    if moment > timezone.now() + dt.timedelta(minutes=5):
        raise ValidationError("is in the future")
    if moment < EARLIEST:
        raise ValidationError("is before 1990")
    return moment


def _size(text: str) -> int:
    digits = re.sub(r"[\s,._']", "", text)
    if not digits.isdigit() or not 0 < int(digits) <= COMPANY_SIZE_MAX:
        raise ValidationError("is not a number of employees, e.g. 250")
    return int(digits)


def row_clean(line: int, values: dict[str, str], *, default_country: str) -> Row:
    """The row ``values`` (field → text as written) checked and normalized. Messages say what is wrong with a field
    without repeating its value (the problems list is kept; the file already holds the values)."""
    row = Row(line=line)
    text = {name: " ".join(value.split()) for name, value in values.items()}
    try:
        row.email = normalize_email(values.get("email", ""))
    except ValidationError as error:
        row.problems.append(("email", "is empty" if error.code == "required" else "is not a valid e-mail address"))
    first, last = text.get("first_name", ""), text.get("last_name", "")
    if text.get("full_name"):
        given, _, family = text["full_name"].partition(" ")
        first, last = first or given, last or family
    for name, value in (("first_name", first), ("last_name", last)):
        if len(value) > NAME_MAX:
            row.problems.append((name, f"is longer than {NAME_MAX} characters"))
        elif value:
            row.details[name] = value
    country = ""
    if text.get("country"):
        try:
            country = row.details["country"] = normalize_country(text["country"])
        except ValidationError:
            row.problems.append(("country", "is not a two-letter country code such as US or DE"))
    if text.get("phone"):
        try:
            row.details["phone"] = normalize_phone(values["phone"], default_country=country or default_country)
        except ValidationError:
            hint = "" if country or default_country else " (include +country code, or set the import's country)"
            row.problems.append(("phone", f"is not a valid phone number{hint}"))
    for name, limit in LENGTHS.items():
        if len(text.get(name, "")) > limit:
            row.problems.append((name, f"is longer than {limit} characters"))
        elif text.get(name):
            row.details[name] = text[name]
    if text.get("company_size"):
        try:
            row.details["company_size"] = _size(text["company_size"])
        except ValidationError as error:
            row.problems.append(("company_size", error.messages[0]))
    if text.get("signed_up_at"):
        try:
            row.signed_up_at = _when(text["signed_up_at"])
        except ValidationError as error:
            row.problems.append(("signed_up_at", error.messages[0]))
    for raw in re.split(r"[,;]", values.get("tags", "")):
        if raw.strip():
            try:
                tag = normalize_tag(raw)
            except ValidationError:
                row.problems.append(("tags", "holds a tag longer than 50 characters"))
            else:
                if tag not in row.tags:
                    row.tags.append(tag)
    return row


def _rows(lead_import: LeadImport, handle: IO[bytes], *, skip: int = 0) -> Generator[Row]:
    """The file's rows after the first ``skip``, each checked. Line numbers count the header as line 1."""
    reader = _reader(handle, lead_import.delimiter)
    header = next(reader, [])
    where = [(index, lead_import.mapping.get(name, "")) for index, name in enumerate(header)]
    where = [(index, target) for index, target in where if target]
    for number, cells in enumerate(reader, start=1):
        if number <= skip:
            continue
        values: dict[str, str] = {}
        for index, target in where:
            cell = cells[index] if index < len(cells) else ""
            values[target] = f"{values[target]},{cell}" if target == "tags" and target in values else cell
        row = row_clean(number + 1, values, default_country=lead_import.default_country)
        if len(cells) > len(header):
            row.problems.append(("row", f"has {len(cells)} cells; the header names {len(header)}"))
        yield row


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
    delimiter, columns = _sniff(upload)
    if mapping is not None and mapping_problems(columns, mapping):
        raise ImportInvalid({"mapping": mapping_problems(columns, mapping)})
    rows = _count(upload, delimiter)
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
    with lead_import.file.open("rb") as handle, closing(_rows(lead_import, handle)) as read:
        return list(islice(read, rows))


def import_start(*, lead_import: LeadImport) -> LeadImport:
    """Queue a mapped draft; the worker runs it (``import_run``)."""
    from leads import tasks  # the task module imports this one

    problems = mapping_problems(lead_import.columns, lead_import.mapping)
    if problems:
        raise ImportInvalid({"mapping": problems})
    updated = LeadImport.objects.filter(pk=lead_import.pk, status=LeadImport.Status.DRAFT).update(
        status=LeadImport.Status.QUEUED
    )
    if updated:
        lead_import.status = LeadImport.Status.QUEUED
        enqueue_on_commit(tasks.import_run, import_id=lead_import.pk)  # imports_tidy queues it again if lost
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
            self.rows = _rows(lead_import, self.handle, skip=lead_import.rows_done)
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
        for number, cells in enumerate(_reader(handle, lead_import.delimiter), start=1):
            if number == line:
                yield [str(line), reasons, *cells]
                following = next(wanted, None)
                if following is None:
                    return
                line, reasons = following


def imports_tidy(*, now: dt.datetime | None = None) -> int:
    """Hourly: queue imports whose task was lost, and delete uploads finished more than KEEP_DAYS ago (their rows
    hold personal data; the problems list stays). Returns how many were queued."""
    from leads import tasks  # the task module imports this one

    now = now or timezone.now()
    stuck = LeadImport.objects.filter(
        status__in=[LeadImport.Status.QUEUED, LeadImport.Status.RUNNING], created_at__lt=now - dt.timedelta(minutes=5)
    )
    pks = list(stuck.values_list("pk", flat=True))
    for pk in pks:
        enqueue_on_commit(tasks.import_run, import_id=pk)
    old = LeadImport.objects.filter(finished_at__lt=now - dt.timedelta(days=KEEP_DAYS)).exclude(file="")
    for lead_import in old:
        lead_import.file.delete(save=False)
        LeadImport.objects.filter(pk=lead_import.pk).update(file="")
    return len(pks)
