"""The capture inbox: beacons and opt-ins accepted at wire speed, written to the database in batches.

When ``EVENT_INBOX`` is on, the capture API appends validated events, and validated opt-ins, to Redis lists and
answers 202; the flusher (``capture_inbox_flush``, every second from Celery beat, or ``manage.py capture_inbox_flush
--follow``) writes them in batches. One flusher per list runs at a time (a Redis lock). It writes a batch
idempotently (``ON CONFLICT (idempotency_key) DO NOTHING`` for its events) and only then trims it from the list, so
a crash in between replays the batch without duplicates, and nothing is dropped. Durability of the
accepted-but-unflushed entries is Redis's: run it with ``appendonly yes`` where the inbox is on.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DataError, IntegrityError, connection, transaction
from django_redis import get_redis_connection

from common.locks import Lock, LockLost
from leads import selectors
from leads.batches import events_record_batch, optins_record_batch
from leads.contracts import ATTRIBUTION_FIELDS, Attribution, ConsentAnswer, EventRefs, Identity, QueuedOptin
from leads.marks import leads_mark_changed
from leads.models import Event

logger = logging.getLogger(__name__)

INBOX_KEY = "ladder:events:inbox"
LOCK_KEY = "ladder:events:inbox:lock"
OPTIN_INBOX_KEY = "ladder:optins:inbox"
OPTIN_LOCK_KEY = "ladder:optins:inbox:lock"
LOCK_SECONDS = 60


def inbox_enabled() -> bool:
    return bool(getattr(settings, "EVENT_INBOX", False)) and bool(settings.REDIS_URL)


def redis() -> Any:
    return get_redis_connection("default")


# The enqueue end: each entry appended in the same round trip that counts its sender's throttle windows, so a sender
# over a limit queues nothing. Each counter is (cache key, limit, expiry in seconds); a counter's expiry is set when it
# is new. Over any limit → 0 and nothing queued; else the entries are appended → 1.
_THROTTLED_APPEND = """
local counters = tonumber(ARGV[1])
local over = false
for i = 1, counters do
  local used = redis.call('INCR', KEYS[i])
  if used == 1 then redis.call('EXPIRE', KEYS[i], ARGV[1 + 2 * i]) end
  if used > tonumber(ARGV[2 * i]) then over = true end
end
if over then return 0 end
redis.call('RPUSH', KEYS[counters + 1], unpack(ARGV, 2 + 2 * counters))
return 1
"""


@functools.cache
def _throttled_append() -> Any:
    """Registered once per process: later calls send the script's hash (EVALSHA), not its text."""
    return redis().register_script(_THROTTLED_APPEND)


def scripts_forget() -> None:
    """Forget the registered script (it belongs to the Redis of the time: a test that swaps Redis calls this)."""
    _throttled_append.cache_clear()


def _append(key: str, entries: Sequence[str], counters: Sequence[tuple[str, int, int]]) -> bool:
    args: list[Any] = [len(counters)]
    for _, limit, expiry in counters:
        args += [limit, expiry]
    keys = [counter for counter, _, _ in counters] + [cache.make_key(key)]
    return bool(_throttled_append()(keys=keys, args=[*args, *entries]))


def events_append(rows: Sequence[str], *, counters: Sequence[tuple[str, int, int]]) -> bool:
    """Queue encoded beacons (``encode``) unless their sender is over a throttle limit; raises ``RedisError``."""
    return _append(INBOX_KEY, rows, counters)


def optin_append(row: str, *, counters: Sequence[tuple[str, int, int]]) -> bool:
    """Queue an encoded opt-in (``optin_encode``) unless its sender is over a limit; raises ``RedisError``."""
    return _append(OPTIN_INBOX_KEY, [row], counters)


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


def inbox_size(key: str = INBOX_KEY) -> int:
    return int(redis().llen(cache.make_key(key)))


def events_inbox_flush(*, batch_size: int = 2000, max_seconds: float = 50.0) -> int:
    """Write what the event inbox holds to the event log in batches; returns how many events were new.

    Returns at once (0) when another flusher holds the lock. Idempotent: a replayed batch inserts nothing twice.
    """
    return _drain(INBOX_KEY, LOCK_KEY, _write, batch_size=batch_size, max_seconds=max_seconds)


def optin_encode(optin: QueuedOptin) -> str:
    identity, refs, attribution = optin.identity, optin.refs, optin.attribution
    return json.dumps(
        {
            "k": optin.idempotency_key,
            "e": identity.email,
            "ph": identity.phone,
            "fn": identity.first_name,
            "ln": identity.last_name,
            "c": identity.country,
            "at": optin.occurred_at.isoformat(),
            "src": optin.source,
            "eea": optin.assume_eea,
            "g": [[answer.purpose, answer.wording, answer.granted] for answer in optin.consents],
            "v": str(optin.visitor_id) if optin.visitor_id else None,
            "vn": optin.visitor_is_new,
            "a": (
                None
                if attribution is None
                else {**attribution.as_properties(), "at": attribution.occurred_at.isoformat()}
            ),
            "f": refs.funnel_id,
            "s": refs.step_id,
            "va": refs.variant_id,
            "o": refs.offer_id,
        },
        separators=(",", ":"),
    )


def _optin_decode(raw: bytes) -> QueuedOptin:
    row = json.loads(raw)
    attribution = row["a"]
    return QueuedOptin(
        idempotency_key=row["k"],
        identity=Identity(email=row["e"], phone=row["ph"], first_name=row["fn"], last_name=row["ln"], country=row["c"]),
        occurred_at=dt.datetime.fromisoformat(row["at"]),
        source=row["src"],
        assume_eea=row["eea"],
        consents=tuple(ConsentAnswer(purpose=p, wording=w, granted=g) for p, w, g in row["g"]),
        visitor_id=uuid.UUID(row["v"]) if row["v"] else None,
        visitor_is_new=row["vn"],
        attribution=(
            None
            if attribution is None
            else Attribution(
                occurred_at=dt.datetime.fromisoformat(attribution.pop("at")),
                **{name: attribution[name] for name in ATTRIBUTION_FIELDS if name in attribution},
            )
        ),
        refs=EventRefs(funnel_id=row["f"], step_id=row["s"], variant_id=row["va"], offer_id=row["o"]),
    )


OptinsRecorded = Callable[[list[tuple[int, int | None]]], None]


def optins_inbox_flush(
    *, recorded: OptinsRecorded | None = None, batch_size: int = 1000, max_seconds: float = 50.0
) -> int:
    """Write the queued opt-ins in batches (``optins_record_batch``); returns how many submissions were new.

    ``recorded`` is called inside each batch's transaction with the (lead id, step id) of its new opt-ins, so what it
    schedules with ``transaction.on_commit`` happens only once they are stored. Refused addresses (erased people) are
    counted in the log, never named.
    """

    def write(raws: list[bytes]) -> int:
        written = optins_record_batch(optins=[_optin_decode(raw) for raw in raws])
        if written.refused:
            logger.info(
                "optin inbox: %d queued opt-ins refused (addresses that asked to be forgotten)", written.refused
            )
        if recorded is not None and written.recorded:
            recorded(written.recorded)
        return len(written.recorded)

    return _drain(
        OPTIN_INBOX_KEY, OPTIN_LOCK_KEY, transaction.atomic(write), batch_size=batch_size, max_seconds=max_seconds
    )


def _write_apart(conn: Any, key: str, raws: list[bytes], write: Callable[[list[bytes]], int]) -> int:
    """A batch the database refused as a whole: each entry on its own, and any it refuses set aside on the list's
    dead-letter list (``<key>:dead``, kept for a person to look at) instead of blocking the inbox behind it."""
    written = 0
    dead: list[bytes] = []
    reasons: set[str] = set()
    for raw in raws:
        try:
            written += write([raw])
        except (DataError, IntegrityError, ValueError, KeyError, TypeError) as error:
            dead.append(raw)
            reasons.add(type(error).__name__)  # the class only: a database's message can quote the row's values
    if dead:
        conn.rpush(cache.make_key(f"{key}:dead"), *dead)
        logger.error(
            "%s: %d entries the database refused (%s) were set aside on %s:dead",
            key,
            len(dead),
            ", ".join(sorted(reasons)),
            key,
        )
    return written


def _drain(key: str, lock_key: str, write: Callable[[list[bytes]], int], *, batch_size: int, max_seconds: float) -> int:
    """Write one Redis list's entries in batches, trimming each only after its rows are committed.

    A batch smaller than ``batch_size`` was everything there was, so the flush ends there rather than chasing the
    few entries that arrived meanwhile one tiny transaction at a time: they wait for the next flush, which keeps
    batches large under load. Returns at once (0) when another flusher holds the list's lock.
    """
    conn = redis()
    inbox = cache.make_key(key)
    lock = Lock(lock_key, lapse=LOCK_SECONDS)
    if not lock.acquire():
        return 0
    written = 0
    deadline = time.monotonic() + max_seconds
    with lock:
        while time.monotonic() < deadline:
            raws = conn.lrange(inbox, 0, batch_size - 1)
            if not raws:
                break
            try:
                written += write(raws)
            except (DataError, IntegrityError, ValueError, KeyError, TypeError):
                written += _write_apart(conn, key, raws, write)
            conn.ltrim(inbox, len(raws), -1)  # only after the rows are committed
            if len(raws) < batch_size:
                break
            try:
                lock.renew()
            except LockLost:
                break  # paused past the lapse: another flusher has the list, and replays are idempotent
    return written
