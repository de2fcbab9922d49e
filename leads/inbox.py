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
from django_redis import get_redis_connection

from leads import selectors
from leads.models import Event
from leads.services import events_record_batch

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


def inbox_size() -> int:
    return int(redis().llen(cache.make_key(INBOX_KEY)))


def events_inbox_flush(*, batch_size: int = 2000, max_seconds: float = 50.0) -> int:
    """Write the inbox to the event log in batches until it is empty; returns how many events were new.

    Returns at once (0) when another flusher holds the lock. Idempotent: a replayed batch inserts nothing twice.
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
            events = [_decode(raw) for raw in raws]
            leads = selectors.leads_for_visitors(visitor_ids=list({e.visitor_id for e in events if e.visitor_id}))
            for event in events:
                event.lead_id = leads.get(event.visitor_id) if event.visitor_id else None
            written += events_record_batch(events=events)
            conn.ltrim(inbox, len(raws), -1)  # only after the rows are committed
            conn.expire(lock, LOCK_SECONDS)
    finally:
        if conn.get(lock) == token.encode():
            conn.delete(lock)
    return written
