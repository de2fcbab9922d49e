"""The real services this configuration talks to, when they are configured."""

import pytest
from django.core.cache import caches
from django.db import connection


@pytest.mark.redis
def test_cache_is_redis_and_round_trips():
    cache = caches["default"]
    assert type(cache).__module__.startswith("django_redis")
    cache.set("ladder:test:ping", {"ok": 1}, timeout=5)
    assert cache.get("ladder:test:ping") == {"ok": 1}
    cache.delete("ladder:test:ping")
    assert cache.get("ladder:test:ping") is None


@pytest.mark.postgres
@pytest.mark.django_db
def test_database_is_postgresql_15_or_newer():
    assert connection.vendor == "postgresql"
    assert connection.cursor().connection.info.server_version >= 150000
