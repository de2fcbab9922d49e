"""The fast path: strict checks in plain Python, one Redis round trip into the capture inbox, no database.

``beacon_rows`` and ``optin_entry`` either return what to queue for a request that is certainly valid, or ``None``
for anything they are not sure of; the API then answers through its full serializers (``funnels.api``), which explain
every error. So the fast path never accepts what the full path would refuse, every refusal reads the same, and what
it queues is written exactly as the full path would have written it, within about a second.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from redis.exceptions import RedisError
from rest_framework.request import Request

from common.parsers import loads_bounded
from funnels.capture import entries
from funnels.capture.throttles import CaptureEmailThrottle, CaptureIPThrottle, OptinIPThrottle
from funnels.models import Step
from funnels.services import visitor_for_submission
from funnels.snapshots import FunnelSnapshot
from funnels.tracking import attribution_from_url
from leads import inbox
from leads.contracts import ConsentAnswer, QueuedOptin
from leads.identity import CaptureInvalid, identity_normalize
from leads.models import Consent

EVENT_FIELDS = frozenset(
    {"id", "type", "name", "visitor_id", "step", "occurred_at", "properties", "url", "referrer", "fbc"}
)
TYPES = frozenset({"page_view", "custom"})
OPTIN_FIELDS = frozenset(
    {"key", "id", "email", "first_name", "last_name", "phone", "step", "consents", "visitor_id", "website"}
    | {"url", "referrer", "fbc"}
)
PURPOSES = frozenset(Consent.Purpose.values)
_url = URLValidator()
_slug = re.compile(r"^[-a-zA-Z0-9_]+\Z")
# A JSON escape of NUL or of half a surrogate pair: PostgreSQL stores neither, so the full path decides (and refuses).
_UNSTORABLE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


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
    referrer = certain_text(item.get("referrer", ""), entries.URL_MAX, blank=True)
    fbc = certain_text(item.get("fbc", ""), entries.FBC_MAX, blank=True)
    if certain_text(url, entries.URL_MAX, blank=False) is None or referrer is None or fbc is None:
        return None
    try:
        _url(url)
    except ValidationError:
        return None
    return url, referrer, fbc


def _certain_event(item: Any, snapshot: FunnelSnapshot, now: dt.datetime) -> str | None:
    """One beacon's inbox row, or ``None`` when unsure (the duplicate-id check is the batch's)."""
    if not isinstance(item, dict) or not item.keys() <= EVENT_FIELDS:
        return None
    client_id = certain_text(item.get("id"), entries.CLIENT_ID_MAX, blank=False)
    kind = item.get("type")
    name = certain_text(item.get("name", ""), entries.NAME_MAX, blank=True)
    visitor_id = certain_uuid(item.get("visitor_id"))
    if client_id is None or kind not in TYPES or name is None or (kind == "custom" and not name) or visitor_id is None:
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
        if occurred_at.tzinfo is None:
            return None
        if not now - entries.EVENT_PAST_LIMIT <= occurred_at <= now + entries.EVENT_FUTURE_LIMIT:
            return None
    properties = item.get("properties", {})
    if (
        not isinstance(properties, dict)
        or len(properties) > entries.PROPERTIES_MAX_KEYS
        or len(json.dumps(properties)) > entries.PROPERTIES_MAX_BYTES
    ):
        return None
    properties = dict(properties)
    page = certain_page(item)
    if page is None:
        return None
    url, referrer, fbc = page
    if url and kind == "page_view":
        attribution = attribution_from_url(url=url, referrer=referrer, fbc_cookie=fbc, now=now)
        properties.update({**attribution.as_properties(), "landing": attribution.arrived_from_outside})
    refs = entries.visit_for(step, visitor_id).refs if step else None
    return inbox.encode(
        idempotency_key=entries.event_key(snapshot.funnel.pk, client_id),
        type=kind,
        name=name,
        visitor_id=visitor_id,
        occurred_at=occurred_at,
        funnel_id=snapshot.funnel.pk,
        step_id=step.pk if step else None,
        variant_id=refs.variant_id if refs else None,
        offer_id=step.offer_id if step else None,
        properties=properties,
    )


def beacon_rows(*, data: Any, snapshot: FunnelSnapshot, now: dt.datetime) -> list[str] | None:
    """The inbox rows of a batch that is certainly valid, or ``None`` when unsure."""
    if not isinstance(data, dict) or set(data) != {"key", "events"}:
        return None
    events = data["events"]
    if not isinstance(events, list) or not 1 <= len(events) <= entries.EVENTS_MAX:
        return None
    ids = [item.get("id") if isinstance(item, dict) else None for item in events]
    if len(set(map(repr, ids))) != len(ids):
        return None  # the full path says each event needs its own id
    rows = []
    for item in events:
        row = _certain_event(item, snapshot, now)
        if row is None:
            return None
        rows.append(row)
    return rows


@dataclass(frozen=True, kw_only=True, slots=True)
class OptinEntry:
    row: str  # the inbox entry
    email_identity: str  # the per-e-mail throttle's identity (a hash, as the full path's)
    step: Step


def optin_entry(*, data: Any, snapshot: FunnelSnapshot, now: dt.datetime) -> OptinEntry | None:
    """The inbox entry of an opt-in that is certainly valid, or ``None`` when unsure."""
    if not isinstance(data, dict) or not data.keys() <= OPTIN_FIELDS:
        return None
    submission_id = certain_text(data.get("id"), entries.CLIENT_ID_MAX, blank=False)
    email = certain_text(data.get("email"), entries.EMAIL_MAX, blank=False)
    first_name = certain_text(data.get("first_name", ""), entries.NAME_MAX, blank=True)
    last_name = certain_text(data.get("last_name", ""), entries.NAME_MAX, blank=True)
    phone = certain_text(data.get("phone", ""), entries.PHONE_MAX, blank=True)
    if not submission_id or not email or first_name is None or last_name is None or phone is None:
        return None
    if data.get("website", "") != "":  # the honeypot: the full path refuses it, saying why
        return None
    slug = data.get("step")
    if slug is not None and not isinstance(slug, str):
        return None
    step = snapshot.optin_step(slug)
    if step is None:
        return None
    ticked = data.get("consents", [])
    if not isinstance(ticked, list) or len(ticked) > 2 or not all(isinstance(p, str) and p in PURPOSES for p in ticked):
        return None
    wording = entries.consents_asked(step)
    if not set(ticked) <= wording.keys():
        return None
    visitor_is_new = "visitor_id" not in data
    visitor_id = (
        visitor_for_submission(funnel=snapshot.funnel, submission_id=submission_id)
        if visitor_is_new
        else certain_uuid(data["visitor_id"])
    )
    page = certain_page(data)
    identity = entries.email_identity(email)
    if visitor_id is None or page is None or identity is None:
        return None
    url, referrer, fbc = page
    attribution = attribution_from_url(url=url, referrer=referrer, fbc_cookie=fbc, now=now) if url else None
    funnel = snapshot.funnel
    try:
        person = identity_normalize(
            email=email, phone=phone, first_name=first_name, last_name=last_name, default_country=funnel.default_country
        )
    except CaptureInvalid:
        return None
    row = inbox.optin_encode(
        QueuedOptin(
            idempotency_key=entries.optin_key(funnel.pk, submission_id),
            identity=person,
            occurred_at=now,
            source=entries.api_source(funnel, step),
            assume_eea=funnel.eea_rules,
            consents=tuple(
                ConsentAnswer(purpose=purpose, wording=text, granted=purpose in ticked)
                for purpose, text in wording.items()
            ),
            visitor_id=visitor_id,
            visitor_is_new=visitor_is_new,
            attribution=attribution,
            refs=entries.visit_for(step, visitor_id).refs,
        )
    )
    return OptinEntry(row=row, email_identity=identity, step=step)


# --- the answers ----------------------------------------------------------------------------------------------

SnapshotFor = Callable[..., FunnelSnapshot | None]


def cors_allow(response: HttpResponse, origin: str) -> None:
    """The CORS headers for an origin the funnels allow (the full path's answers carry the same)."""
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Max-Age"] = "600"


Queueable = tuple[dict[str, Any], FunnelSnapshot, str | None]  # the body, its funnel and the request's origin


def _queueable(request: HttpRequest, snapshot_for: SnapshotFor) -> Queueable | None:
    """A fast path's common checks: the JSON object, its live funnel and an allowed origin; ``None`` when unsure."""
    if request.method != "POST" or not inbox.inbox_enabled() or request.content_type != "application/json":
        return None
    length = request.META.get("CONTENT_LENGTH") or ""
    if not length.isdigit() or int(length) > settings.API_MAX_BODY_BYTES:
        return None
    body = request.body
    if _UNSTORABLE.search(body):
        return None
    try:
        data = loads_bounded(body)
    except ValueError:
        return None  # the full path answers it (a 400 naming what is wrong)
    key = data.get("key") if isinstance(data, dict) else None
    snapshot = snapshot_for(public_key=key) if isinstance(key, str) and len(key) <= 40 else None
    origin = request.META.get("HTTP_ORIGIN")  # request.headers would copy every header first
    if snapshot is None or not snapshot.live or (origin and origin.rstrip("/").lower() not in snapshot.origins):
        return None
    return data, snapshot, origin


def _queued(body: bytes, origin: str | None) -> HttpResponse:
    response = HttpResponse(body, status=202, content_type="application/json")
    if origin:  # allowed by this live funnel, so by the live origins too
        cors_allow(response, origin)
    response["Vary"] = "Origin"
    return response


def beacon_answer(request: HttpRequest, *, snapshot_for: SnapshotFor) -> HttpResponse | None:
    """The beacon fast path: a 202 for a batch that is certainly valid, queued in one Redis round trip; ``None`` for
    anything else, which the full path then answers (with every error explained).

    ``snapshot_for`` finds the funnel: the API's loader, or (in front of Django) one that only reads what this process
    already holds, so the fast path never needs the database.
    """
    checked = _queueable(request, snapshot_for)
    if checked is None:
        return None
    data, snapshot, origin = checked
    rows = beacon_rows(data=data, snapshot=snapshot, now=timezone.now())
    if rows is None:
        return None
    throttle = CaptureIPThrottle()  # the same window and identity as the full path's, so both count together
    try:
        queued = inbox.events_append(rows, counters=[throttle.counter(throttle.get_ident(cast(Request, request)))])
    except RedisError:
        return None  # Redis is down: the full path writes the batch to the database itself
    if not queued:
        return None  # over the limit: the full path answers 429 with Retry-After
    return _queued(b'{"accepted": %d, "recorded": null, "duplicates": null}' % len(rows), origin)


def optin_answer(request: HttpRequest, *, snapshot_for: SnapshotFor) -> HttpResponse | None:
    """The opt-in fast path: a 202 for an opt-in that is certainly valid, queued in one Redis round trip with both of
    its throttle windows counted; ``None`` for anything else, which the full path answers (and writes at once)."""
    checked = _queueable(request, snapshot_for)
    if checked is None:
        return None
    data, snapshot, origin = checked
    entry = optin_entry(data=data, snapshot=snapshot, now=timezone.now())
    if entry is None:
        return None
    by_ip, by_email = OptinIPThrottle(), CaptureEmailThrottle()
    counters = [by_ip.counter(by_ip.get_ident(cast(Request, request))), by_email.counter(entry.email_identity)]
    try:
        queued = inbox.optin_append(entry.row, counters=counters)
    except RedisError:
        return None  # Redis is down: the full path writes the opt-in to the database itself
    if not queued:
        return None  # over a limit: the full path answers 429 with Retry-After
    body = {"recorded": None, "next_url": entries.next_url(snapshot, entry.step)}
    return _queued(json.dumps(body).encode(), origin)
