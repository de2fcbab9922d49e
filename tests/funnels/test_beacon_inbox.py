"""Beacons through the Redis inbox: accepted at once, written by the flusher once each, never lost."""

import json
import re
import uuid

import pytest
from django.core.management import call_command
from django.utils import timezone

from leads import inbox
from leads.batches import events_record_batch
from leads.models import Event, Lead, LeadMark

pytestmark = [pytest.mark.redis, pytest.mark.django_db, pytest.mark.usefixtures("inbox_on")]
ORIGIN = "https://shop.example.com"


def post(client, body):
    return client.post("/api/v1/events", json.dumps(body), content_type="application/json", HTTP_ORIGIN=ORIGIN)


def batch(funnel, visitor, ids=("e1", "e2")):
    return {
        "key": funnel.public_key,
        "events": [
            {
                "id": ids[0],
                "type": "page_view",
                "visitor_id": str(visitor),
                "step": "optin",
                "url": "https://shop.example.com/?utm_source=facebook&fbclid=FB1",
            },
            {
                "id": ids[1],
                "type": "custom",
                "name": "video_played",
                "visitor_id": str(visitor),
                "properties": {"seconds": 12},
            },
        ],
    }


def test_valid_beacons_are_queued_then_flushed_once(client, live_funnel):
    funnel, steps = live_funnel
    visitor = uuid.uuid4()
    lead = Lead.objects.create(email="ada@example.com")
    Event.objects.create(
        type="optin", lead=lead, visitor_id=visitor, occurred_at="2026-01-01T00:00Z", idempotency_key="o"
    )

    response = post(client, batch(funnel, visitor))

    assert response.status_code == 202
    assert response.json() == {"accepted": 2, "recorded": None, "duplicates": None}
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert Event.objects.count() == 1  # nothing written in the request
    assert inbox.inbox_size() == 2

    assert inbox.events_inbox_flush() == 2
    assert inbox.inbox_size() == 0
    view = Event.objects.get(type="page_view")
    assert (view.lead, view.step_id, view.funnel_id, view.idempotency_key) == (
        lead,
        steps["optin"].pk,
        funnel.pk,
        f"api:{funnel.pk}:e1",
    )
    assert view.properties["utm_source"] == "facebook"
    assert view.properties["landing"] is True
    assert Event.objects.get(type="custom").properties == {"seconds": 12}

    assert post(client, batch(funnel, visitor)).status_code == 202  # a retried batch
    assert inbox.events_inbox_flush() == 0
    assert Event.objects.count() == 3


def test_a_flush_interrupted_after_its_insert_replays_without_duplicates(client, live_funnel):
    funnel, _ = live_funnel
    post(client, batch(funnel, uuid.uuid4()))
    # The flusher died after committing the batch but before trimming it from the inbox.
    raws = inbox.redis().lrange(inbox.cache.make_key(inbox.INBOX_KEY), 0, -1)
    assert events_record_batch(events=[inbox._decode(raw) for raw in raws]) == 2
    assert inbox.events_inbox_flush() == 0
    assert inbox.inbox_size() == 0
    assert Event.objects.count() == 2


def test_only_one_flusher_runs_at_a_time(client, live_funnel):
    funnel, _ = live_funnel
    post(client, batch(funnel, uuid.uuid4()))
    inbox.redis().set(inbox.cache.make_key(inbox.LOCK_KEY), "someone-else", ex=30)
    assert inbox.events_inbox_flush() == 0
    assert inbox.inbox_size() == 2
    inbox.redis().delete(inbox.cache.make_key(inbox.LOCK_KEY))
    call_command("capture_inbox_flush")
    assert Event.objects.count() == 2


def test_anything_doubtful_takes_the_full_path_and_is_refused_there(client, live_funnel):
    funnel, _ = live_funnel
    body = batch(funnel, uuid.uuid4())
    body["events"][1].pop("name")
    response = post(client, body)
    assert response.status_code == 400
    assert response.json() == {"events": {"1": {"name": ["A custom event needs a name."]}}}
    assert inbox.inbox_size() == 0
    assert Event.objects.count() == 0


def test_non_canonical_but_valid_input_is_written_directly(client, live_funnel):
    funnel, _ = live_funnel
    body = batch(funnel, uuid.uuid4())
    body["events"][0]["occurred_at"] = "2026-13-01"  # not a date: refused by the full path
    assert post(client, body).status_code == 400
    # A time without a zone: the full path reads it in the site's zone; the fast path declines to guess.
    body["events"][0]["occurred_at"] = timezone.now().replace(tzinfo=None).isoformat()
    response = post(client, body)
    assert response.status_code == 202
    assert response.json() == {"accepted": 2, "recorded": 2, "duplicates": 0}
    assert inbox.inbox_size() == 0


def test_the_fast_path_honours_the_ip_throttle(client, live_funnel, settings):
    funnel, _ = live_funnel
    settings.CAPTURE_THROTTLE_RATES = {"capture_ip": "3/minute", "capture_email": "10/hour"}
    statuses = [post(client, batch(funnel, uuid.uuid4(), ids=(f"a{i}", f"b{i}"))).status_code for i in range(4)]
    assert statuses == [202, 202, 202, 429]
    assert inbox.inbox_size() == 6


def test_a_flush_takes_full_batches_until_one_is_short(client, live_funnel):
    funnel, _ = live_funnel
    for i in range(3):
        post(client, batch(funnel, uuid.uuid4(), ids=(f"a{i}", f"b{i}")))
    assert inbox.events_inbox_flush(batch_size=2) == 6  # three full batches, then an empty read
    post(client, batch(funnel, uuid.uuid4(), ids=("c1", "c2")))
    assert inbox.events_inbox_flush(batch_size=4) == 2  # one short batch: everything there was
    assert inbox.inbox_size() == 0
    assert Event.objects.count() == 8


def test_the_same_event_twice_in_one_batch_is_written_once_with_its_lead(client, live_funnel):
    funnel, _ = live_funnel
    visitor = uuid.uuid4()
    lead = Lead.objects.create(email="grace@example.com")
    Event.objects.create(type="optin", lead=lead, visitor_id=visitor, occurred_at=timezone.now(), idempotency_key="o")
    body = batch(funnel, visitor)
    post(client, body)
    post(client, body)  # a retry queued before the first was flushed
    assert inbox.inbox_size() == 4

    assert inbox.events_inbox_flush() == 2

    written = Event.objects.exclude(idempotency_key="o").order_by("id")
    assert [(e.idempotency_key, e.lead_id) for e in written] == [
        (f"api:{funnel.pk}:e1", lead.pk),
        (f"api:{funnel.pk}:e2", lead.pk),
    ]
    assert written[0].visitor_id == visitor
    assert written[0].occurred_at <= timezone.now()
    assert LeadMark.objects.filter(lead=lead).exists()  # its audiences are refreshed


@pytest.mark.parametrize("text", ["a\u0000b", "\ud800"])
@pytest.mark.parametrize("inbox_on", [True, False])
def test_text_the_database_cannot_store_is_refused_with_a_message(client, live_funnel, settings, text, inbox_on):
    funnel, _ = live_funnel
    settings.EVENT_INBOX = inbox_on
    body = batch(funnel, uuid.uuid4())
    body["events"][1]["properties"] = {"label": text}

    response = post(client, body)

    assert response.status_code == 400
    assert "may not contain NUL characters or unpaired UTF-16 surrogates" in json.dumps(response.json())
    assert inbox.inbox_size() == 0
    assert Event.objects.count() == 0


def test_an_entry_the_database_refuses_is_set_aside_and_the_rest_written(client, live_funnel, caplog):
    funnel, _ = live_funnel
    post(client, batch(funnel, uuid.uuid4(), ids=("a1", "a2")))
    conn, key = inbox.redis(), inbox.cache.make_key(inbox.INBOX_KEY)
    good = conn.lrange(key, 0, -1)
    poisoned = re.sub(rb'"v":"[^"]+"', b'"v":"not-a-visitor"', good[0].replace(b'"k":"api:', b'"k":"api:poison-'))
    conn.rpush(key, poisoned, b"not json")

    assert inbox.events_inbox_flush() == 2

    assert inbox.inbox_size() == 0
    assert conn.lrange(inbox.cache.make_key(f"{inbox.INBOX_KEY}:dead"), 0, -1) == [poisoned, b"not json"]
    assert "2 entries the database refused (" in caplog.text
    assert "were set aside on ladder:events:inbox:dead" in caplog.text
    assert Event.objects.count() == 2
