"""The fast path for event beacons: strict checks in plain Python, one Redis round trip, no database.

``beacon_rows`` either returns the inbox rows for a batch that is certainly valid, or ``None`` for anything
it is not sure of; the API then answers through its full serializers, which explain every error. So the fast
path never accepts what the full path would refuse, and every refusal reads the same.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from funnels.snapshots import FunnelSnapshot
from funnels.splits import variant_for
from funnels.tracking import attribution_from_url
from leads import inbox

EVENT_FIELDS = frozenset(
    {"id", "type", "name", "visitor_id", "step", "occurred_at", "properties", "url", "referrer", "fbc"}
)
TYPES = frozenset({"page_view", "custom"})
PAST_LIMIT = dt.timedelta(days=7)
FUTURE_LIMIT = dt.timedelta(minutes=5)
_url = URLValidator()
_slug = re.compile(r"^[-a-zA-Z0-9_]+\Z")

# INCR the window's counter (setting its expiry when new); over the limit → 0, else append the rows → 1.
THROTTLED_PUSH = """
local used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if used > tonumber(ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[2], unpack(ARGV, 3))
return 1
"""


# The same count alone, for requests that queue nothing (opt-ins): the counter the fast path increments.
WINDOW_COUNT = """
local used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return used
"""


@functools.cache
def throttled_push() -> Any:
    """The script registered once per process: later calls send its hash (EVALSHA), not its text."""
    return inbox.redis().register_script(THROTTLED_PUSH)


@functools.cache
def window_count() -> Any:
    return inbox.redis().register_script(WINDOW_COUNT)


def certain_text(value: Any, limit: int, *, blank: bool) -> str | None:
    """A string the full path would keep exactly as sent (DRF trims, so surrounding spaces are for it to decide)."""
    if not isinstance(value, str) or len(value) > limit or value != value.strip():
        return None
    if not value and not blank:
        return None
    return value


def certain_uuid(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(hex=value)
    except ValueError:
        return None


def certain_page(item: dict[str, Any]) -> tuple[str, str, str] | None:
    """The reported page's (url, referrer, fbc), all three "" when it reports none; ``None`` when unsure."""
    url = item.get("url")
    if url is None:
        # without a url the full path decides what a referrer or fbc means
        return None if "referrer" in item or "fbc" in item else ("", "", "")
    referrer = certain_text(item.get("referrer", ""), 2000, blank=True)
    fbc = certain_text(item.get("fbc", ""), 500, blank=True)
    if certain_text(url, 2000, blank=False) is None or referrer is None or fbc is None:
        return None
    try:
        _url(url)
    except ValidationError:
        return None
    return url, referrer, fbc


def beacon_rows(*, data: Any, snapshot: FunnelSnapshot, now: dt.datetime) -> list[str] | None:
    if not isinstance(data, dict) or set(data) != {"key", "events"}:
        return None
    events = data["events"]
    if not isinstance(events, list) or not 1 <= len(events) <= 100:
        return None
    rows: list[str] = []
    seen: set[str] = set()
    for item in events:
        if not isinstance(item, dict) or not item.keys() <= EVENT_FIELDS:
            return None
        client_id = certain_text(item.get("id"), 100, blank=False)
        kind = item.get("type")
        name = certain_text(item.get("name", ""), 100, blank=True)
        if client_id is None or client_id in seen or kind not in TYPES or name is None:
            return None
        if kind == "custom" and not name:
            return None
        seen.add(client_id)
        visitor_id = certain_uuid(item.get("visitor_id"))
        if visitor_id is None:
            return None
        step = None
        if "step" in item:
            slug = item["step"]
            if not isinstance(slug, str) or not _slug.match(slug) or slug not in snapshot.steps:
                return None
            step = snapshot.steps[slug]
        occurred_at = now
        if "occurred_at" in item:
            try:
                occurred_at = dt.datetime.fromisoformat(item["occurred_at"])
            except (TypeError, ValueError):
                return None
            if occurred_at.tzinfo is None or not now - PAST_LIMIT <= occurred_at <= now + FUTURE_LIMIT:
                return None
        properties = item.get("properties", {})
        if not isinstance(properties, dict) or len(properties) > 50 or len(json.dumps(properties)) > 4096:
            return None
        properties = dict(properties)
        page = certain_page(item)
        if page is None:
            return None
        url, referrer, fbc = page
        if url and kind == "page_view":
            attribution = attribution_from_url(url=url, referrer=referrer, fbc_cookie=fbc, now=now)
            properties.update({**attribution.as_properties(), "landing": attribution.arrived_from_outside})
        variant = (
            variant_for(visitor_id=visitor_id, step_id=step.pk, variants=list(step.variants.all())) if step else None
        )
        rows.append(
            inbox.encode(
                idempotency_key=f"api:{snapshot.funnel.pk}:{client_id}",
                type=kind,
                name=name,
                visitor_id=visitor_id,
                occurred_at=occurred_at,
                funnel_id=snapshot.funnel.pk,
                step_id=step.pk if step else None,
                variant_id=variant.pk if variant else None,
                offer_id=step.offer_id if step else None,
                properties=properties,
            )
        )
    return rows
