"""A real Celery worker, on the Redis broker and the test's PostgreSQL database, drains the beacon inbox."""

import time
import uuid

import pytest
from django.utils import timezone

from leads import inbox
from leads.models import Event
from tests import celery_worker

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(settings):
    settings.EVENT_INBOX = True
    process = celery_worker.worker_start(settings, EVENT_INBOX="true")
    yield celery_worker.client()
    celery_worker.worker_stop(process)


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
