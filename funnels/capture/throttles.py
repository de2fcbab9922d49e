"""Fixed-window limits for the capture: per client address, per sign-up address and per e-mail address. The fast
path counts in the very windows the full path's throttles count in, so the two share one limit."""

from __future__ import annotations

import functools
import logging
import time
from typing import Any, cast

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from common.locks import redis_connection
from funnels.capture.entries import email_identity

logger = logging.getLogger(__name__)

# INCR the window's counter, setting its expiry when it is new: one round trip.
_WINDOW_COUNT = """
local used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return used
"""


@functools.cache
def window_count() -> Any:
    """The counting script, registered once per process (later calls send its hash, not its text)."""
    return redis_connection().register_script(_WINDOW_COUNT)


class FixedWindowThrottle(BaseThrottle):
    """At most N requests per identity in each fixed window, counted with one atomic increment.

    DRF's SimpleRateThrottle keeps a list of every request time per identity and rewrites it on each request:
    O(N) work and a lost-update race under concurrency. A counter per window is O(1) and exact in Redis.
    """

    scope = ""
    _durations = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def __init__(self) -> None:
        rate = settings.CAPTURE_THROTTLE_RATES[self.scope]
        count, period = rate.split("/")
        self.limit = int(count)
        self.duration = self._durations[period[0]]
        self.retry_after = 0

    def identity(self, request: Request, view: APIView) -> str | None:
        return self.get_ident(request)

    def allow_request(self, request: Request, view: APIView) -> bool:
        ident = self.identity(request, view)
        return True if ident is None else self.allow_ident(ident)

    def allow_ident(self, ident: str) -> bool:
        """Count one request of ``ident`` in the current window; whether it is within the limit (``wait()`` then
        says how long until the next window)."""
        now = int(time.time())
        window = now // self.duration
        key = self.window_key(ident, window)
        if settings.REDIS_URL:  # one round trip: count, and start the window's expiry when it is new
            try:
                used = int(window_count()(keys=[cache.make_key(key)], args=[self.duration + 1]))
            except RedisError:
                # Redis is down: the capture keeps working (the database takes the writes) and goes unlimited until
                # it is back, rather than turn every visitor away; the outage is logged.
                logger.warning("capture throttle %s not counted: Redis is unreachable", self.scope)
                return True
        else:
            cache.add(key, 0, timeout=self.duration + 1)
            try:
                used = cache.incr(key)
            except ValueError:  # expired between add and incr: this request opens the window
                cache.add(key, 1, timeout=self.duration + 1)
                used = 1
        self.retry_after = (window + 1) * self.duration - now
        return used <= self.limit

    def window_key(self, ident: str, window: int) -> str:
        """The cache key counting ``ident``'s requests in ``window``."""
        return f"throttle:{self.scope}:{ident}:{window}"

    def counter(self, ident: str) -> tuple[str, int, int]:
        """``ident``'s current window for the inbox's throttled append: (its Redis key, the limit, its expiry)."""
        key = cache.make_key(self.window_key(ident, int(time.time()) // self.duration))
        return key, self.limit, self.duration + 1

    def wait(self) -> float | None:
        return self.retry_after


class CaptureIPThrottle(FixedWindowThrottle):
    scope = "capture_ip"


class OptinIPThrottle(FixedWindowThrottle):
    """Limits sign-ups (opt-ins and checkout starts, on hosted pages and through the API) per client address: each
    can send a lead-magnet e-mail to an address nobody verified."""

    scope = "optin_ip"


class CaptureEmailThrottle(FixedWindowThrottle):
    """Limits opt-ins per address, keyed by a hash so the cache never holds the address itself."""

    scope = "capture_email"

    def identity(self, request: Request, view: APIView) -> str | None:
        data = request.data
        email = data.get("email") if isinstance(data, dict) else None
        return email_identity(email) if isinstance(email, str) else None


def signup_wait(request: HttpRequest, email: str) -> int | None:
    """For a sign-up on a hosted page: None when within the per-address and per-e-mail limits (counting it), else
    the seconds until the client may try again."""
    by_ip = OptinIPThrottle()
    if not by_ip.allow_ident(by_ip.get_ident(cast(Request, request))):
        return int(by_ip.wait() or 1)
    ident = email_identity(email)
    by_email = CaptureEmailThrottle()
    if ident is not None and not by_email.allow_ident(ident):
        return int(by_email.wait() or 1)
    return None
