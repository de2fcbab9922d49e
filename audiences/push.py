"""New members at the platforms within a minute, and at most one add request a destination a minute.

When the refresher puts changed leads into audiences, every active destination that would now add some of them
gets a push, queued at once if the destination last heard from Ladder a window (``AUDIENCE_PUSH_SECONDS``, 60 s)
ago or more (its last full sync's end, the last push's start, its last add request), else when that window ends.
While a push waits, joins are only gathered (one push a destination waits at a time: a flag in the cache, lapsing
if its task is lost); joins that fill the destination's batch bring a push forward, since waiting would not save a
request. A push sends just the people who joined (the planner keeps their ids per destination) where the ledger
does not hold them already, so its cost follows the joins, not the audience's size; were the ids lost (Redis
restarted), the destination's scheduled full sync sends them. Removals do not wait for a window: the refresher
queues them at once (``sync.destinations_holding``).

A push starts ``AUDIENCE_PUSH_PREPARE_SECONDS`` before its slot, does its reading and hashing, and holds its request
until the slot opens, so the time between two add requests is the window plus the request itself, not the push's
preparation too.

A push also catches up with the refresher (``push_catch_up``): when it runs it refreshes its own audience for the
leads marked since the refresher's last pass, so someone who opted in a second before a push goes with it rather
than a whole window later. It does so once more just before its request leaves (``push_last_call``,
``AUDIENCE_PUSH_LAST_CALL_SECONDS`` before the slot), taking in who joined while it prepared.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from audiences.models import Destination
from audiences.services import audience_refresh
from audiences.sync import destinations_sending, leads_to_add
from audiences.sync.platforms import platform_named
from common.db import among
from common.locks import redis_connection
from leads.marks import marks_pending

_LOST_AFTER = 300  # seconds after its due time a queued push's flag lapses, should its task have been lost
_PENDING_LAPSE = 86_400  # seconds the joins of a destination nobody pushes are kept (its full sync sends them)
_CATCH_UP_LIMIT = 20_000  # marked leads a push refreshes its audience for; any beyond wait for the refresher


@dataclass(frozen=True, slots=True)
class Push:
    destination_pk: int
    countdown: float  # seconds from now


def _queued_key(destination_pk: int) -> str:
    return f"audiences:push:{destination_pk}"


def _joined_key(destination_pk: int) -> str:
    return f"audiences:push:{destination_pk}:joined"


def _pushed_key(destination_pk: int) -> str:
    return f"audiences:push:{destination_pk}:pushed"


def _pushing_key(destination_pk: int) -> str:
    return f"audiences:push:{destination_pk}:pushing"


def destinations_joining(*, lead_ids: Sequence[int], now: dt.datetime | None = None) -> dict[Destination, list[int]]:
    """Active destinations, not pausing, that would add some of these leads now: which ones each."""
    if not lead_ids:
        return {}
    now = now or timezone.now()
    joining = {}
    for destination in destinations_sending(now):
        joined = list(leads_to_add(destination).filter(pk__in=among(lead_ids)).values_list("pk", flat=True))
        if joined:
            joining[destination] = joined
    return joining


def pushes_plan(joining: dict[Destination, list[int]], *, now: dt.datetime | None = None) -> list[Push]:
    """The pushes to queue for these joins (destination → who joined): at most one waiting per destination."""
    now = now or timezone.now()
    window = dt.timedelta(seconds=settings.AUDIENCE_PUSH_SECONDS)
    pushes = []
    for destination, lead_ids in joining.items():
        _pending_add(destination.pk, lead_ids)
        count = len(lead_ids)
        batch = platform_named(destination.platform).batch_size
        queued_for = cache.get(_queued_key(destination.pk))
        if queued_for is not None:  # one is waiting: these joins go with it, unless together they fill a batch
            joined = _joined_add(destination.pk, count)
            if joined >= batch and queued_for > now.timestamp():
                cache.set(_joined_key(destination.pk), 0, timeout=None)
                pushes.append(Push(destination.pk, 0.0))
            continue
        due = max(now, _last_sent(destination) + window)
        if count >= batch:
            due = now
        countdown = max(0.0, (due - now).total_seconds() - push_prepare_seconds())
        if cache.add(_queued_key(destination.pk), due.timestamp(), timeout=int(countdown) + _LOST_AFTER):
            cache.set(_joined_key(destination.pk), count, timeout=None)
            pushes.append(Push(destination.pk, countdown))
    return pushes


def _last_sent(destination: Destination) -> dt.datetime:
    """When the destination last heard from Ladder: the latest of its last full sync's end, the start of a push under
    way and the end of the last push's last add request, so a push planned while another runs still waits a whole
    window after that one's request."""
    moments = [destination.last_synced_at or dt.datetime.min.replace(tzinfo=dt.UTC)]
    for key in (_pushed_key(destination.pk), _pushing_key(destination.pk)):
        if (moment := cache.get(key)) is not None:
            moments.append(dt.datetime.fromtimestamp(moment, tz=dt.UTC))
    return max(moments)


def _joined_add(destination_pk: int, count: int) -> int:
    try:
        return int(cache.incr(_joined_key(destination_pk), count))
    except ValueError:  # the counter lapsed or was never set
        cache.set(_joined_key(destination_pk), count, timeout=None)
        return count


def push_prepare_seconds() -> float:
    """How long before its slot a push starts: it refreshes, reads and hashes its rows first, then sends them the
    moment the slot opens, so that work does not lengthen the time between two add requests."""
    return float(settings.AUDIENCE_PUSH_PREPARE_SECONDS)


def push_wait(destination: Destination, *, now: dt.datetime | None = None) -> float:
    """Seconds a push must still wait so the destination's add requests stay a window apart (0: go now). Checked
    when the push runs too, since one planned while the previous push was still sending counted from that push's
    start, not from its last request."""
    now = now or timezone.now()
    window = dt.timedelta(seconds=settings.AUDIENCE_PUSH_SECONDS)
    return max(0.0, (_last_sent(destination) + window - now).total_seconds())


def push_started(destination_pk: int) -> list[int]:
    """A push starts: the people it carries (taken, so joins from now on need a push of their own, a window after
    this one's requests)."""
    cache.set(_pushing_key(destination_pk), timezone.now().timestamp(), timeout=_LOST_AFTER)
    cache.delete_many([_queued_key(destination_pk), _joined_key(destination_pk)])
    return _pending_take(destination_pk)


def push_catch_up(destination: Destination) -> list[int]:
    """Leads marked and not yet refreshed who now join this destination: the push refreshes its own audience for
    them (their marks stay for the refresher, which finds them members already and the ledger holding them)."""
    marked = marks_pending(limit=_CATCH_UP_LIMIT)
    if not marked:
        return []
    audience_refresh(audience=destination.audience, lead_ids=marked)
    return list(leads_to_add(destination).filter(pk__in=among(marked)).values_list("pk", flat=True))


def push_last_call(destination: Destination) -> list[int]:
    """Just before a push's request leaves: whoever joined the destination since the push read its rows, found by the
    refresher meanwhile (taken from the set the next push would carry) or marked and not yet refreshed (the push
    refreshes its audience for them, as its catch-up did)."""
    return sorted(set(_pending_take(destination.pk)) | set(push_catch_up(destination)))


def push_finished(destination_pk: int, *, last_request: dt.datetime | None) -> None:
    """A push is over; ``last_request`` is when its last add request had ended (None: it sent none), and the next
    push waits a window from then."""
    if last_request is not None:
        timeout = int(settings.AUDIENCE_PUSH_SECONDS) * 10
        cache.set(_pushed_key(destination_pk), last_request.timestamp(), timeout=timeout)
    cache.delete(_pushing_key(destination_pk))


def push_return(destination_pk: int, lead_ids: Sequence[int]) -> None:
    """People a push could not send (the destination was busy or failed): the next push carries them."""
    _pending_add(destination_pk, lead_ids)


def _pending_key(destination_pk: int) -> str:
    return f"audiences:push:{destination_pk}:leads"


def _pending_add(destination_pk: int, lead_ids: Sequence[int]) -> None:
    if not lead_ids:
        return
    if settings.REDIS_URL:
        key = cache.make_key(_pending_key(destination_pk))
        with redis_connection().pipeline(transaction=True) as pipe:  # a switched-off destination's set lapses
            pipe.sadd(key, *lead_ids).expire(key, _PENDING_LAPSE).execute()
    else:  # the in-process cache (development): one process, so read-then-write is enough
        key = _pending_key(destination_pk)
        cache.set(key, sorted(set(cache.get(key, [])) | set(lead_ids)), timeout=None)


def _pending_take(destination_pk: int) -> list[int]:
    if settings.REDIS_URL:
        key = cache.make_key(_pending_key(destination_pk))
        with redis_connection().pipeline(transaction=True) as pipe:  # read and cleared at once
            members, _ = pipe.smembers(key).delete(key).execute()  # a join added meanwhile waits for the next push
        return sorted(int(member) for member in members)
    key = _pending_key(destination_pk)  # the in-process cache: one process, so read-then-clear is enough
    taken = list(cache.get(key, []))
    cache.delete(key)
    return taken


def push_again(destination_pk: int, *, countdown: float) -> bool:
    """Hold a push for later (the destination was busy); False if another is queued already."""
    due = timezone.now().timestamp() + countdown
    return bool(cache.add(_queued_key(destination_pk), due, timeout=int(countdown) + _LOST_AFTER))
