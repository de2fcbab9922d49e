"""A real Celery worker, on the Redis broker and the test's PostgreSQL database, drains the beacon inbox."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection
from django.utils import timezone

from leads import inbox
from leads.models import Event

ROOT = Path(__file__).resolve().parents[2]
BROKER = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/13")

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(settings):
    settings.EVENT_INBOX = True
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": "worker-test-" + "k" * 50,
        "FIELD_ENCRYPTION_KEY": "mJf2q5n8m3xQ0G7s9wS0a1b2c3d4e5f6g7h8i9j0k1Y=",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": BROKER,
        "EVENT_INBOX": "true",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "warning",
            "-P",
            "prefork",
            "-c",
            "1",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    # Not the current app: the rest of the suite keeps running tasks in-process.
    yield Celery(broker=BROKER, set_as_current=False)
    proc.terminate()
    output, _ = proc.communicate(timeout=30)
    assert b"Traceback" not in output, output.decode()[-3000:]


def test_worker_flushes_queued_beacons_into_the_event_log(worker):
    visitor = uuid.uuid4()
    rows = [
        inbox.encode(idempotency_key=f"worker:{n}", type="page_view", visitor_id=visitor, occurred_at=timezone.now())
        for n in range(250)
    ]
    conn = inbox.redis()
    conn.rpush(inbox.cache.make_key(inbox.INBOX_KEY), *rows)
    conn.rpush(inbox.cache.make_key(inbox.INBOX_KEY), rows[0])  # a duplicate delivery
    worker.send_task("funnels.capture_inbox_flush")

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and inbox.inbox_size() > 0:
        time.sleep(0.2)
    assert inbox.inbox_size() == 0
    assert Event.objects.filter(idempotency_key__startswith="worker:").count() == 250
    assert set(Event.objects.values_list("visitor_id", flat=True)) == {visitor}
