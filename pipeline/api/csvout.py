"""The lead list as CSV: every matching lead, read in chunks of plain tuples (no model objects), written as it is
read, so a hundred thousand leads stream in constant memory."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from typing import Any

from django.db.models import CharField, QuerySet
from django.db.models.functions import Cast
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
# Text a spreadsheet would run as a formula is quoted; a signed number (an E.164 phone) is not a formula.
_RISKY = frozenset("=+-@\t\r")


class CsvRenderer(BaseRenderer):
    """Lets ``?format=csv`` through content negotiation; the list view streams the CSV itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        import json

        return json.dumps(data, default=str).encode()  # an error, answered in the API's JSON shape


def lead_rows(leads: QuerySet[Lead]) -> Iterator[str]:
    """The header, then one string per chunk of leads (a few hundred kilobytes each)."""
    header = io.StringIO()
    csv.writer(header).writerow([name for name, _ in COLUMNS])
    yield header.getvalue()
    now, half_life = timezone.now(), scoring.half_life_days()
    factor = 2.0 ** -((now - scoring.SCORE_ANCHOR).total_seconds() / (half_life * scoring.DAY)) if half_life else 1.0
    slack = 0.5 + scoring.SLACK
    floor = math.floor
    # Keyset pages on the primary key: each a bounded query, whatever the filter, on every database. The id and the
    # times come as the database writes them in text (UTC): turning each into a Python object first and back into
    # text would take most of the time.
    as_text = {source: Cast(source, CharField()) for source in ("public_id", "last_activity_at", "created_at")}
    names = {source: f"{source}_text" if source in as_text else source for _, source in COLUMNS}
    rows = (
        leads.order_by("pk")
        .annotate(**{f"{source}_text": cast for source, cast in as_text.items()})
        .values_list("pk", *(names[source] for _, source in COLUMNS))
    )
    last = 0
    while True:
        chunk = list(rows.filter(pk__gt=last)[:CHUNK])
        if not chunk:
            return
        last = chunk[-1][0]
        out = io.StringIO()
        writer = csv.writer(out)
        for _pk, public_id, email, first, last_name, phone, country, stage, owner, base, active, created in chunk:
            cells = [email, first, last_name, phone, country, stage or "", owner or ""]
            for i, cell in enumerate(cells):
                if cell and cell[0] in _RISKY and not _NUMBER.match(cell):
                    cells[i] = "'" + cell
            writer.writerow(
                [
                    public_id,
                    *cells,
                    floor(base * factor + slack),  # scoring.score_at, with the day's factor worked out once
                    active.replace(" ", "T", 1) if active else "",
                    created.replace(" ", "T", 1),
                ]
            )
        yield out.getvalue()
