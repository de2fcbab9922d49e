"""The event inbox: beacons accepted at wire speed, written to the event log in batches.

When ``EVENT_INBOX`` is on, the capture API appends validated events to a Redis list and answers 202; the
flusher (``events_inbox_flush``, every second from Celery beat, or ``manage.py events_inbox_flush --follow``)
writes them in batches. One flusher runs at a time (a Redis lock). It inserts a batch with
``ON CONFLICT (idempotency_key) DO NOTHING`` and only then trims it from the list, so a crash in between
replays the batch without duplicates, and nothing is dropped. Durability of the accepted-but-unflushed events
is Redis's: run it with ``appendonly yes`` where the inbox is on.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django_redis import get_redis_connection

from leads import selectors
from leads.models import Event
from leads.services import events_record_batch, leads_mark_changed

INBOX_KEY = "ladder:events:inbox"
LOCK_KEY = "ladder:events:inbox:lock"
LOCK_SECONDS = 60


def inbox_enabled() -> bool:
    return bool(getattr(settings, "EVENT_INBOX", False)) and bool(settings.REDIS_URL)


def redis() -> Any:
    return get_redis_connection("default")


def encode(
    *,
    idempotency_key: str,
    type: str,
    visitor_id: uuid.UUID | str,
    occurred_at: dt.datetime,
    name: str = "",
    funnel_id: int | None = None,
    step_id: int | None = None,
    variant_id: int | None = None,
    offer_id: int | None = None,
    properties: dict[str, Any] | None = None,
) -> str:
    return json.dumps(
        {
            "k": idempotency_key,
            "t": type,
            "n": name,
            "v": str(visitor_id),
            "at": occurred_at.isoformat(),
            "f": funnel_id,
            "s": step_id,
            "va": variant_id,
            "o": offer_id,
            "p": properties or {},
        },
        separators=(",", ":"),
    )


def _decode(raw: bytes) -> Event:
    row = json.loads(raw)
    return Event(
        idempotency_key=row["k"],
        type=row["t"],
        name=row["n"],
        visitor_id=uuid.UUID(row["v"]),
        occurred_at=dt.datetime.fromisoformat(row["at"]),
        funnel_id=row["f"],
        step_id=row["s"],
        variant_id=row["va"],
        offer_id=row["o"],
        properties=row["p"],
    )


def _write(raws: list[bytes]) -> int:
    if connection.vendor == "postgresql":
        return _write_postgresql(raws)
    events = [_decode(raw) for raw in raws]
    leads = selectors.leads_for_visitors(visitor_ids=list({e.visitor_id for e in events if e.visitor_id}))
    for event in events:
        event.lead_id = leads.get(event.visitor_id) if event.visitor_id else None
    return events_record_batch(events=events)


# The same batch in one statement, decoded by PostgreSQL itself: in inbox order, each event given the lead its
# visitor became (if any; one index probe per event, whatever the planner's statistics say), and only the events
# whose idempotency keys are new.
_INSERT_BATCH = """
INSERT INTO leads_event (type, name, lead_id, visitor_id, funnel_id, step_id, variant_id, offer_id, order_id,
                         occurred_at, recorded_at, properties, idempotency_key)
SELECT r->>'t', r->>'n',
       (SELECT known.lead_id FROM leads_event AS known
        WHERE known.visitor_id = (r->>'v')::uuid AND known.lead_id IS NOT NULL LIMIT 1),
       (r->>'v')::uuid, (r->>'f')::bigint, (r->>'s')::bigint, (r->>'va')::bigint, (r->>'o')::bigint, NULL,
       (r->>'at')::timestamptz, now(), r->'p', r->>'k'
FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS batch (r, position)
ORDER BY position
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING lead_id
"""


@transaction.atomic
def _write_postgresql(raws: list[bytes]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_BATCH, [(b"[" + b",".join(raws) + b"]").decode()])
        inserted = cursor.fetchall()
    lead_ids = [lead_id for (lead_id,) in inserted if lead_id is not None]
    if lead_ids:
        leads_mark_changed(lead_ids=lead_ids)
    return len(inserted)


def inbox_size() -> int:
    return int(redis().llen(cache.make_key(INBOX_KEY)))


def events_inbox_flush(*, batch_size: int = 2000, max_seconds: float = 50.0) -> int:
    """Write what the inbox holds to the event log in batches; returns how many events were new.

    A batch smaller than ``batch_size`` was everything there was, so the flush ends there rather than chasing the
    few events that arrived meanwhile one tiny transaction at a time: they wait for the next flush, which keeps
    batches large under load. Returns at once (0) when another flusher holds the lock. Idempotent: a replayed
    batch inserts nothing twice.
    """
    conn = redis()
    inbox, lock = cache.make_key(INBOX_KEY), cache.make_key(LOCK_KEY)
    token = uuid.uuid4().hex
    if not conn.set(lock, token, nx=True, ex=LOCK_SECONDS):
        return 0
    written = 0
    deadline = time.monotonic() + max_seconds
    try:
        while time.monotonic() < deadline:
            raws = conn.lrange(inbox, 0, batch_size - 1)
            if not raws:
                break
            written += _write(raws)
            conn.ltrim(inbox, len(raws), -1)  # only after the rows are committed
            if len(raws) < batch_size:
                break
            conn.expire(lock, LOCK_SECONDS)
    finally:
        if conn.get(lock) == token.encode():
            conn.delete(lock)
    return written
