"""Reading an uploaded list: the file as a stream (UTF-8, comma, semicolon or tab), its header, the mapping of its
columns onto lead fields, and each row checked and normalized (``row_clean``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from common.errors import ApplicationError
from leads.identity import NAME_MAX
from leads.models import LeadImport
from leads.normalization import normalize_country, normalize_email, normalize_phone, normalize_tag

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
LENGTHS = {"region": 100, "city": 100, "postal_code": 20}
COMPANY_SIZE_MAX = 10_000_000
EARLIEST = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)


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


def csv_rows(handle: IO[bytes], delimiter: str) -> Generator[list[str]]:
    with _text(handle) as text:
        yield from csv.reader(text, delimiter=delimiter)


def file_sniff(handle: IO[bytes]) -> tuple[str, list[str]]:
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


def rows_count(handle: IO[bytes], delimiter: str) -> int:
    """Rows after the header, read as a stream; ImportInvalid for a file that is not CSV or is too long."""
    rows = 0
    reader = csv_rows(handle, delimiter)
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


def rows_read(lead_import: LeadImport, handle: IO[bytes], *, skip: int = 0) -> Generator[Row]:
    """The file's rows after the first ``skip``, each checked. Line numbers count the header as line 1."""
    reader = csv_rows(handle, lead_import.delimiter)
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
