"""An owner-token lock in the cache (Redis in production): only its owner renews or releases it.

A plain ``cache.add`` / ``cache.delete`` lock has two flaws: a holder whose lock lapsed (a long pause) deletes the
lock the next holder took, and renewing it extends whoever holds it now. Here the lock's value is a random token
the owner keeps; renewing and releasing compare it first, atomically on Redis (a short script), so a lapsed owner
changes nothing and learns that it lost the lock.
"""

from __future__ import annotations

import secrets
from types import TracebackType

from django.conf import settings
from django.core.cache import cache

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) else return 0 end
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


def redis_connection():  # type: ignore[no-untyped-def]
    """The cache's Redis connection, for what the cache API cannot say (scripts, sets)."""
    from django_redis import get_redis_connection

    return get_redis_connection("default")


class LockLost(Exception):
    """The lock lapsed and another owner may hold it: stop, and leave what you were doing to them."""


class Lock:
    def __init__(self, key: str, *, lapse: int) -> None:
        self.key, self.lapse = key, lapse
        self.token = secrets.token_hex(16)
        self.held = False

    def acquire(self) -> bool:
        if settings.REDIS_URL:  # the raw token (the cache API would pickle it), set only if absent, with its lapse
            self.held = bool(redis_connection().set(cache.make_key(self.key), self.token, nx=True, ex=self.lapse))
        else:
            self.held = bool(cache.add(self.key, self.token, timeout=self.lapse))
        return self.held

    def renew(self) -> None:
        """Push the lapse back; raises LockLost when the lock is no longer ours."""
        if not self._if_ours(_RENEW, lambda: cache.touch(self.key, timeout=self.lapse)):
            self.held = False
            raise LockLost(f"the lock {self.key} lapsed and was taken")

    def release(self) -> None:
        if self.held:
            self._if_ours(_RELEASE, lambda: cache.delete(self.key))
            self.held = False

    def taken(self) -> bool:
        """Whether anyone holds the lock now (a glance: it may be taken or lapse a moment later)."""
        if settings.REDIS_URL:
            return bool(redis_connection().exists(cache.make_key(self.key)))
        return cache.get(self.key) is not None

    def _if_ours(self, script: str, local: object) -> bool:
        if settings.REDIS_URL:
            return bool(redis_connection().eval(script, 1, cache.make_key(self.key), self.token, self.lapse))
        # The in-process cache (development, tests without Redis): one process, so get-then-act is enough.
        if cache.get(self.key) != self.token:
            return False
        return bool(local())  # type: ignore[operator]

    def __enter__(self) -> Lock:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()
