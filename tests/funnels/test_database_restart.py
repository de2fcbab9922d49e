"""PostgreSQL restarting under a burst of sign-ups (seen through a proxy the test cuts: every connection dropped,
the port closed, then open again): requests in the outage answer 503 with Retry-After — never a 500 — and change
nothing; every request after it succeeds on the server's kept connections (checked before reuse); every sign-up
answered 2xx is stored once, and those that were refused land when retried with the same submission id."""

import itertools
import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from django.db import connection

from leads.models import Event, Lead
from tests.fakes.tcp_proxy import TcpProxy
from tests.web_server import server_start, server_stop

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = 3.0


@pytest.fixture
def proxy():
    db = connection.settings_dict
    fake = TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    yield fake
    fake.stop()


def optin(base, funnel, number):
    body = {"key": funnel.public_key, "id": f"burst-{number}", "email": f"burst{number}@example.com"}
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{base}/api/v1/optins",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Origin": "https://shop.example.com"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_signups_across_a_database_restart_answer_503_in_the_outage_and_none_is_lost(
    settings, live_funnel, proxy, tmp_path
):
    funnel, _ = live_funnel
    server, base = server_start(
        settings,
        database_port=proxy.port,
        log=tmp_path / "server.log",
        THROTTLE_OPTIN_IP="100000/hour",
        THROTTLE_CAPTURE_IP="100000/minute",
        CELERY_BROKER_URL="memory://",
    )
    answers: dict[int, tuple[float, int, dict, bytes]] = {}
    window: list[float] = []
    try:
        for number in range(10):  # every thread of both workers holds a kept connection
            assert optin(base, funnel, number)[0] == 201

        numbers = itertools.count(10)
        done = threading.Event()

        def send():
            while not done.is_set():
                number = next(numbers)
                started = time.monotonic()
                answers[number] = (started, *optin(base, funnel, number))
                time.sleep(0.05)

        threads = [threading.Thread(target=send) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1)
        window.append(time.monotonic())
        proxy.cut()  # the database goes away
        time.sleep(OUTAGE_SECONDS)
        proxy.restore()
        window.append(time.monotonic())
        time.sleep(2)
        done.set()
        for thread in threads:
            thread.join()

        statuses = {status for _, status, _, _ in answers.values()}
        assert statuses <= {201, 503}, statuses
        refused = {n for n, (_, status, _, _) in answers.items() if status == 503}
        assert refused  # the outage was seen
        for number in refused:
            started, _, headers, body = answers[number]
            assert window[0] - 1 <= started <= window[1], "a 503 outside the outage"
            assert headers["Retry-After"] == "5"
            assert "briefly unavailable" in json.loads(body)["detail"]
        after = [n for n, (started, _, _, _) in answers.items() if started > window[1] + 0.5]
        assert after, "the burst outlasted the outage"
        assert all(answers[n][1] == 201 for n in after)  # kept connections recovered at once

        stored = set(Lead.objects.values_list("email", flat=True))
        answered = {f"burst{n}@example.com" for n, (_, status, _, _) in answers.items() if status == 201}
        assert answered <= stored  # every 2xx is kept

        for number in sorted(refused):  # the embed retries with the same submission id
            # 201, or 200 when the refused write had committed after all (its answer was lost with the connection):
            # then the retry is a replay of the stored sign-up, which is what makes retrying safe.
            assert optin(base, funnel, number)[0] in (200, 201)

        # A restart while the site is quiet: every kept connection is dead, and no request has noticed yet.
        proxy.cut()
        proxy.restore()
        signups = 10 + len(answers)
        replays: list[int] = []
        threads = [
            threading.Thread(target=lambda k=k: replays.extend(optin(base, funnel, n)[0] for n in range(k, signups, 4)))
            for k in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert set(replays) == {200}  # each a replay of a stored sign-up: nothing new, and no 5xx
    finally:
        output = server_stop(server, tmp_path / "server.log")
    assert "Internal Server Error" not in output  # the outage was logged as 503s, nothing else went wrong
    assert Lead.objects.count() == signups
    assert Event.objects.filter(type="optin").count() == signups  # one opt-in each: nothing twice
