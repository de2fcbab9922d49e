"""Suite-wide fixtures. Service-bound tests (markers ``postgres``, ``redis``) skip without the service,
saying so, and fail under CI=true, where a missing service is a broken machine rather than a laptop."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from facebook_business.session import FacebookSession

from tests.clv_history import history  # noqa: F401  (a fixture for every test module)
from tests.fakes.meta_graph import MetaGraphFake

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_service_skips: list[str] = []


def _redis_available() -> str | None:
    if not settings.REDIS_URL:
        return "REDIS_URL is not set"
    import redis  # imported here: only service-bound tests need the client

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        return f"Redis at REDIS_URL is unreachable ({error.__class__.__name__})"
    return None


def _missing_service(request: pytest.FixtureRequest) -> str | None:
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        return "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/ladder"
    if request.node.get_closest_marker("redis"):
        problem = _redis_available()
        if problem:
            return f"needs Redis: {problem} (e.g. REDIS_URL=redis://127.0.0.1:6379/1)"
    return None


@pytest.fixture(autouse=True)
def _require_services(request: pytest.FixtureRequest) -> None:
    missing = _missing_service(request)
    if missing is None:
        return
    if CI:
        pytest.fail(f"CI=true and this test {missing}")
    _service_skips.append(request.node.nodeid)
    pytest.skip(missing)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _service_skips:
        terminalreporter.write_line(
            f"{len(_service_skips)} service-bound test(s) skipped: PostgreSQL or Redis is not configured "
            "(.ci/run sets DATABASE_URL and REDIS_URL).",
            yellow=True,
        )


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))


@pytest.fixture
def stripe_fake(settings: Any) -> Any:
    """The loopback Stripe (tests/fakes/stripe_api.py), with Ladder's settings pointed at it."""
    from tests.fakes.stripe_api import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, fake_stripe

    with fake_stripe() as fake:
        settings.STRIPE_SECRET_KEY = SECRET_KEY
        settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
        settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
        settings.STRIPE_API_BASE = fake.base_url
        settings.STRIPE_JS_URL = f"{fake.base_url}/v3/"
        settings.STRIPE_MAX_NETWORK_RETRIES = 2
        yield fake


# The token the Conversions API stand-in accepts (tests/fakes/meta_graph.py), for tests that deliver conversions.
CONVERSIONS_TOKEN = "EAAB-" + "c" * 40


@pytest.fixture
def conversions_graph(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The loopback Graph API, with the SDK's sessions pointed at it, accepting ``CONVERSIONS_TOKEN``."""
    fake = MetaGraphFake(access_token=CONVERSIONS_TOKEN)
    monkeypatch.setattr(FacebookSession, "GRAPH", fake.url)
    yield fake
    fake.stop()
