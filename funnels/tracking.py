"""Visitors and where they came from: the signed first-party visitor cookie and attribution parsing."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import uuid
from collections.abc import Mapping
from typing import cast
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from leads.contracts import Attribution, ClientContext

VISITOR_COOKIE = "ladder_vid"
VISITOR_SALT = "ladder.visitor"
VISITOR_MAX_AGE = 60 * 60 * 24 * 395  # about 13 months, the usual ceiling for analytics cookies
_LIMITS = {"utm": 200, "click": 500, "url": 2000}


_FBP = re.compile(r"^fb\.[0-9]\.[0-9]{10,16}\.[0-9]{1,24}$")


def client_context(request: HttpRequest) -> ClientContext:
    """The browser's IP (as the capture throttles read it: the address the trusted proxy saw), user agent and
    ``_fbp`` cookie."""
    try:
        ip = str(ipaddress.ip_address(BaseThrottle().get_ident(cast(Request, request))))
    except ValueError:
        ip = ""
    fbp = request.COOKIES.get("_fbp", "")
    return ClientContext(
        ip=ip, user_agent=request.META.get("HTTP_USER_AGENT", "")[:500], fbp=fbp if _FBP.match(fbp) else ""
    )


def visitor_id_from(request: HttpRequest) -> tuple[uuid.UUID, bool]:
    """The visitor's id from the signed cookie, or a new one (second value True) when absent or tampered."""
    try:
        raw = request.get_signed_cookie(VISITOR_COOKIE, salt=VISITOR_SALT, max_age=VISITOR_MAX_AGE)
        return uuid.UUID(raw), False
    except (KeyError, signing.BadSignature, ValueError):
        return uuid.uuid4(), True


def visitor_cookie_set(response: HttpResponse, visitor_id: uuid.UUID) -> None:
    response.set_signed_cookie(
        VISITOR_COOKIE,
        str(visitor_id),
        salt=VISITOR_SALT,
        max_age=VISITOR_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=not settings.DEBUG and settings.SESSION_COOKIE_SECURE,
    )


def fbc_for(fbclid: str, seen_at: dt.datetime) -> str:
    """Meta's click-id format: ``fb.1.<milliseconds since the epoch when the click was seen>.<fbclid>``."""
    return f"fb.1.{int(seen_at.timestamp() * 1000)}.{fbclid}"


def _clip(value: str, kind: str) -> str:
    if not value.isprintable():  # the usual value is printable already: no per-character pass
        value = "".join(ch for ch in value if ch.isprintable())
    return value[: _LIMITS[kind]]


def attribution_from(request: HttpRequest, *, now: dt.datetime) -> Attribution:
    """UTM parameters, click ids, referrer and landing URL of this request, trimmed to what we store."""
    return _attribution(
        params=request.GET,
        landing_url=request.build_absolute_uri(),
        referrer=request.META.get("HTTP_REFERER", ""),
        own_host=request.get_host(),
        fbc_cookie=request.COOKIES.get("_fbc", ""),
        now=now,
    )


def attribution_from_url(*, url: str, referrer: str, now: dt.datetime, fbc_cookie: str = "") -> Attribution:
    """The same, for a page on another site reported by the API: its URL carries the parameters."""
    parts = urlsplit(url)
    return _attribution(
        params=dict(parse_qsl(parts.query, keep_blank_values=True)),  # the last value wins, as in request.GET
        landing_url=url,
        referrer=referrer,
        own_host=parts.netloc,
        fbc_cookie=fbc_cookie,
        now=now,
    )


def _attribution(
    *, params: Mapping[str, str], landing_url: str, referrer: str, own_host: str, fbc_cookie: str, now: dt.datetime
) -> Attribution:
    fbclid = _clip(params.get("fbclid", ""), "click")
    # A pixel on the page may already have set Meta's _fbc cookie; it wins, since it saw the click first.
    fbc = _clip(fbc_cookie, "click") or (fbc_for(fbclid, now) if fbclid else "")
    referrer = _clip(referrer, "url")
    if referrer and urlsplit(referrer).netloc == own_host:
        referrer = ""  # moving between the site's own pages is not a source
    return Attribution(
        occurred_at=now,
        utm_source=_clip(params.get("utm_source", ""), "utm"),
        utm_medium=_clip(params.get("utm_medium", ""), "utm"),
        utm_campaign=_clip(params.get("utm_campaign", ""), "utm"),
        utm_content=_clip(params.get("utm_content", ""), "utm"),
        utm_term=_clip(params.get("utm_term", ""), "utm"),
        referrer=referrer,
        landing_url=_clip(landing_url, "url"),
        fbclid=fbclid,
        fbc=fbc,
        gclid=_clip(params.get("gclid", ""), "click"),
        gbraid=_clip(params.get("gbraid", ""), "click"),
        wbraid=_clip(params.get("wbraid", ""), "click"),
    )
