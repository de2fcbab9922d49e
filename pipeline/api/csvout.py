"""The lead list as CSV: every matching lead, read in chunks of plain tuples (no model objects), written as it is
read, so a hundred thousand leads stream in constant memory."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.renderers import BaseRenderer

from leads import scoring
from leads.models import Lead

COLUMNS = (
    ("id", "public_id"),
    ("email", "email"),
    ("first_name", "first_name"),
    ("last_name", "last_name"),
    ("phone", "phone"),
    ("country", "country"),
    ("stage", "stage__name"),
    ("owner", "owner__username"),
    ("score", "score_base"),
    ("last_activity_at", "last_activity_at"),
    ("created_at", "created_at"),
)
CHUNK = 5000
_NUMBER = re.compile(r"^[+-]?[0-9][0-9.]*$")


class CsvRenderer(BaseRenderer):
    """Lets ``?format=csv`` through content negotiation; the list view streams the CSV itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        import json

        return json.dumps(data, default=str).encode()  # an error, answered in the API's JSON shape


class _Line:
    def write(self, value: str) -> str:
        return value


def _safe(cell: Any) -> Any:
    """Text a spreadsheet would run as a formula is quoted; a signed number (an E.164 phone) is not a formula."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.match(cell):
        return "'" + cell
    return "" if cell is None else cell


def lead_rows(leads: QuerySet[Lead]) -> Iterator[str]:
    writer = csv.writer(_Line())
    now, half_life = timezone.now(), scoring.half_life_days()
    yield writer.writerow([name for name, _ in COLUMNS])
    score_at = scoring.score_at
    # Keyset pages on the primary key: each a bounded query, whatever the filter, on every database.
    rows = leads.order_by("pk").values_list("pk", *(source for _, source in COLUMNS))
    last = 0
    while True:
        chunk = list(rows.filter(pk__gt=last)[:CHUNK])
        if not chunk:
            return
        last = chunk[-1][0]
        for row in chunk:
            values = list(row[1:])
            values[8] = score_at(values[8], now, half_life)
            values[9] = values[9].isoformat() if values[9] else ""
            values[10] = values[10].isoformat()
            yield writer.writerow([_safe(v) for v in values])
