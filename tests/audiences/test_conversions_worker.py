"""A worker SIGKILLed while it sends server-side conversions loses none: Meta had the batch but the answer never
reached Ladder, so the deliveries stay pending; once the dead run's lock lapses, the next run sends them again and
Meta keeps one of each (deduplicated by event name and id)."""

import pytest

from audiences.models import ConversionDelivery
from leads.models import Event
from tests import celery_worker
from tests.audiences.test_conversions import PIXEL, capture
from tests.conftest import CONVERSIONS_TOKEN
from tests.factories import conversion_destination_make
from tests.fakes.meta_graph import MetaGraphFake

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def graph():
    fake = MetaGraphFake(access_token=CONVERSIONS_TOKEN)
    yield fake
    fake.stop()


def start_worker(settings, graph):
    return celery_worker.worker_start(settings, META_GRAPH_URL=graph.url, CONVERSIONS_DISPATCH_LOCK_SECONDS="4")


def event_posts(graph):
    return [r for r in graph.requests if r["method"] == "POST" and r["path"].endswith("/events")]


def test_conversions_whose_worker_died_mid_send_are_sent_by_the_next_run_and_kept_once(settings, graph):
    conversion_destination_make(name="Pixel", platform="meta", remote_id=PIXEL, credentials=CONVERSIONS_TOKEN)
    for email in ("ada@example.com", "grace@example.com"):
        capture(email)
    app = celery_worker.client()
    graph.answer_delay = 60

    first = start_worker(settings, graph)
    try:
        app.send_task("audiences.conversions_dispatch")
        assert celery_worker.wait_for(lambda: len(graph.events.get(PIXEL, {})) == 2)  # applied, answer held
    finally:
        celery_worker.worker_kill(first)
    assert set(ConversionDelivery.objects.values_list("status", flat=True)) == {"pending"}

    graph.answer_delay = 0
    second = start_worker(settings, graph)
    try:
        # As beat does (every ten seconds here every two): runs find the dead run's lock until it lapses.
        for _ in range(30):
            app.send_task("audiences.conversions_dispatch")
            if celery_worker.wait_for(lambda: not ConversionDelivery.objects.filter(status="pending").exists(), 2):
                break
    finally:
        celery_worker.worker_stop(second)

    assert set(ConversionDelivery.objects.values_list("status", flat=True)) == {"sent"}
    assert len(event_posts(graph)) == 2  # the batch went twice
    keys = sorted(Event.objects.filter(type="optin").values_list("idempotency_key", flat=True))
    assert sorted(event_id for _, event_id in graph.events[PIXEL]) == keys  # and Meta kept each event once
