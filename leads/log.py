"""Reading the append-only event log past a stored cursor, for every consumer of the log (the report rollups, the
pipeline). Dependencies point one way, so consumers learn of new events this way rather than being called.

An id the cursor passes that does not exist yet (a transaction still open, or an id a rollback or a duplicate used
up) is remembered as a gap for ``GAP_EXPIRY`` and read when it appears; only the last ``GAP_WINDOW`` ids of the
log can be such a transaction's, so nothing is missed and nothing is read twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import models

from leads.models import Event

GAP_EXPIRY = dt.timedelta(minutes=10)  # longer than any transaction that writes events stays open
GAP_WINDOW = 10_000  # ids this close to the end of the log that do not exist yet are remembered as gaps


class CursorRow(Protocol):
    position: int

    def save(self, *, update_fields: Sequence[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class LogRead:
    rows: list[tuple[Any, ...]]  # late ones (gaps filled) first, then fresh ones, each in id order
    position: int


def log_read(
    *,
    cursor_model: type[models.Model],
    gap_model: type[models.Model],
    name: str,
    fields: Sequence[str],
    limit: int,
    now: dt.datetime,
    source: type[models.Model] = Event,
) -> LogRead:
    """Up to ``limit`` rows of the append-only ``source`` (the event log unless told) past the cursor ``name`` plus
    the late ones it passed, as ``fields`` tuples (the first field must be ``pk``), moving the cursor. The gap model's
    ``event_id`` holds an id of ``source``. Runs in the caller's transaction, which holds the cursor row locked until
    the caller has used what it read."""
    cursor_model.objects.get_or_create(name=name)  # type: ignore[attr-defined]
    cursor = cursor_model.objects.select_for_update().get(name=name)  # type: ignore[attr-defined]
    gaps = gap_model.objects  # type: ignore[attr-defined]
    log = source._default_manager
    late = list(log.filter(pk__in=gaps.values("event_id")).order_by("pk").values_list(*fields)[:limit])
    gaps.filter(event_id__in=[e[0] for e in late]).delete()
    gaps.filter(seen_at__lt=now - GAP_EXPIRY).delete()
    fresh = list(log.filter(pk__gt=cursor.position).order_by("pk").values_list(*fields)[:limit])
    if fresh:
        present = {e[0] for e in fresh}
        # An id far below the log's end was given out long ago: its transaction ended (a rollback, or a duplicate
        # that inserted nothing). Only ids near the end can belong to a transaction still open.
        tip = log.order_by("-pk").values_list("pk", flat=True).first() or 0
        start = max(cursor.position + 1, tip - GAP_WINDOW)
        missing = [pk for pk in range(start, fresh[-1][0]) if pk not in present]
        gaps.bulk_create(
            [gap_model(event_id=pk, seen_at=now) for pk in missing], batch_size=5000, ignore_conflicts=True
        )
        cursor.position = fresh[-1][0]
        cursor.save(update_fields=["position", "updated_at"])
    return LogRead(rows=[*late, *fresh], position=cursor.position)
