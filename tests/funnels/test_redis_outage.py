"""Redis away while visitors sign up (the capture inbox on): every answer says what happened, nothing answered 2xx is
lost. A private redis-server started here is frozen (SIGSTOP) and thawed, so the shared one is never disturbed."""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from funnels.capture import flush, throttles
from leads import inbox
from leads.models import Lead
from tests.conftest import CI
from tests.funnels.test_api import optin_body, post
from tests.funnels.test_pages import optin_form, url

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def private_redis(settings, tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        if CI:
            pytest.fail("CI=true and redis-server is not installed")
        pytest.skip("needs redis-server (apt-get install redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(  # noqa: S603 (a fixed binary and arguments)
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(50):
        with socket.socket() as client:
            if client.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    location = f"redis://127.0.0.1:{port}/0"
    settings.REDIS_URL = location
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": location,
            "KEY_PREFIX": "ladder",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
    settings.DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    # Scripts are registered once per process, on the Redis of the time: register them on this one.
    inbox.scripts_forget()
    throttles.window_count.cache_clear()
    yield server
    os.kill(server.pid, signal.SIGCONT)
    server.terminate()
    server.wait(timeout=10)
    inbox.scripts_forget()
    throttles.window_count.cache_clear()


def test_sign_ups_while_redis_is_away_are_written_and_the_queued_ones_land_after(
    client, live_funnel, inbox_on, private_redis, django_capture_on_commit_callbacks
):
    funnel, _ = live_funnel
    queued = post(client, "/api/v1/optins", optin_body(funnel, id="before", email="queued@example.com"))
    assert queued.status_code == 202  # in the inbox, not yet in the database

    os.kill(private_redis.pid, signal.SIGSTOP)  # Redis stops answering
    try:
        with django_capture_on_commit_callbacks(execute=True):
            api = post(client, "/api/v1/optins", optin_body(funnel, id="during", email="api@example.com"))
            form = client.post(url(funnel, "optin"), {**optin_form(client, funnel), "email": "form@example.com"})
    finally:
        os.kill(private_redis.pid, signal.SIGCONT)
    assert api.status_code == 201  # written to the database at once, and said so
    assert form.status_code == 302
    assert set(Lead.objects.values_list("email", flat=True)) == {"api@example.com", "form@example.com"}

    with django_capture_on_commit_callbacks(execute=True):
        flush.capture_inbox_flush()  # Redis is back: what was answered 202 is written
    assert Lead.objects.filter(email="queued@example.com").exists()
