"""The lead list as CSV: every matching lead, read in chunks of plain tuples (no model objects), written as it is
read, so a hundred thousand leads stream in constant memory."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator

from django.db.models import CharField, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone

from common.admin import spreadsheet_safe
from leads import scoring
from leads.models import Lead

COLUMNS = (
    ("id", "public_id"),
    ("email", "email"),
    ("first_name", "first_name"),
    ("last_name", "last_name"),
    ("phone", "phone"),
    ("country", "country"),
    ("company_size", "company_size"),
    ("stage", "stage__name"),
    ("owner", "owner__username"),
    ("score", "score_base"),
    ("last_activity_at", "last_activity_at"),
    ("created_at", "created_at"),
)
CHUNK = 5000


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
        for _pk, public_id, email, first, last_name, phone, country, size, stage, owner, base, active, created in chunk:
            writer.writerow(
                [
                    public_id,
                    *map(spreadsheet_safe, (email, first, last_name, phone, country)),
                    "" if size is None else size,
                    *map(spreadsheet_safe, (stage, owner)),
                    floor(base * factor + slack),  # scoring.score_at, with the day's factor worked out once
                    active.replace(" ", "T", 1) if active else "",
                    created.replace(" ", "T", 1),
                ]
            )
        yield out.getvalue()
