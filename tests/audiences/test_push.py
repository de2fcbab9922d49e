"""New members pushed to the platforms within a minute: one push a destination a window, sooner for a full batch;
and the change marks cleared exactly (a change made while the refresher works keeps its mark)."""

import datetime as dt
import time

import pytest
from django.core.cache import cache
from django.utils import timezone

from audiences import push, tasks
from audiences.models import Connection, Destination, SyncBatch, SyncLedger
from audiences.sync import destination_sync
from leads.marks import leads_mark_changed, marks_clear, marks_take
from leads.models import Consent, LeadMark
from tests.factories import AudienceFactory, ConsentFactory, EventFactory, LeadFactory, days_ago, destination_make

pytestmark = pytest.mark.django_db

OPTED_IN = {"event": {"type": "optin", "within_days": 7}}


@pytest.fixture(autouse=True)
def _no_pushes_queued():
    cache.clear()  # push flags live in the cache
    yield
    cache.clear()


@pytest.fixture
def destination():
    return destination_make(audience=AudienceFactory.create(rule=OPTED_IN), name="Preview", platform="sandbox")


def opted_in(*, consent=True):
    lead = LeadFactory.create()
    EventFactory.create(lead=lead, type="optin", occurred_at=days_ago(0.1))
    if consent:
        ConsentFactory.create(lead=lead, occurred_at=days_ago(0.1))
    leads_mark_changed(lead_ids=[lead.pk])
    return lead


def test_someone_who_joins_is_pushed_at_once_when_the_destination_has_not_synced_within_the_window(destination):
    Destination.objects.filter(pk=destination.pk).update(last_synced_at=days_ago(1))
    lead = opted_in()
    assert tasks.audiences_refresh_marked() == 1  # the planned push runs in-process here
    assert SyncLedger.objects.get(lead=lead).state == SyncLedger.State.ADDED
    assert SyncBatch.objects.filter(kind="add").count() == 1


def test_joins_within_the_window_wait_for_its_end_as_one_push(destination, settings):
    settings.AUDIENCE_PUSH_SECONDS = 60
    settings.AUDIENCE_PUSH_PREPARE_SECONDS = 0.75  # a push starts this much before its slot, to have its rows ready
    now = timezone.now()
    Destination.objects.filter(pk=destination.pk).update(last_synced_at=now - dt.timedelta(seconds=20))
    destination.refresh_from_db()
    [first] = push.pushes_plan({destination: [1, 2, 3]}, now=now)
    assert first.destination_pk == destination.pk
    assert first.countdown == pytest.approx(40 - 0.75, abs=0.01)  # its slot: sixty seconds after the last sync
    assert push.pushes_plan({destination: [4]}, now=now + dt.timedelta(seconds=10)) == []  # it goes with the first
    push.push_started(destination.pk)  # the push reads its diff: later joins get a push of their own
    Destination.objects.filter(pk=destination.pk).update(last_synced_at=now + dt.timedelta(seconds=41))
    destination.refresh_from_db()
    [second] = push.pushes_plan({destination: [5]}, now=now + dt.timedelta(seconds=45))
    assert second.countdown == pytest.approx(56 - 0.75, abs=0.01)


def test_joins_that_fill_a_batch_are_pushed_without_waiting(destination):
    now = timezone.now()
    destination.last_synced_at = now - dt.timedelta(seconds=5)
    [waiting] = push.pushes_plan({destination: list(range(10))}, now=now)
    assert waiting.countdown > 50
    assert push.pushes_plan({destination: list(range(10, 6_010))}, now=now + dt.timedelta(seconds=1)) == []
    [full] = push.pushes_plan(
        {destination: list(range(6_010, 10_000))}, now=now + dt.timedelta(seconds=2)
    )  # 10,000 joined: the sandbox's batch
    assert full.countdown == 0
    [at_once] = push.pushes_plan(
        {Destination(pk=destination.pk + 1000, connection=Connection(platform="sandbox")): list(range(10_000))},
        now=now,
    )
    assert at_once.countdown == 0


def test_only_active_destinations_that_would_add_the_leads_are_pushed(destination):
    paused = destination_make(audience=destination.audience, name="Paused", platform="sandbox", account_id="2")
    Connection.objects.filter(pk=paused.connection_id).update(wait_until=timezone.now() + dt.timedelta(minutes=5))
    destination_make(audience=destination.audience, name="Off", platform="sandbox", account_id="3", is_active=False)
    consenting, refusing = opted_in(), opted_in(consent=False)
    tasks.services.audiences_refresh_marked()
    joining = push.destinations_joining(lead_ids=[consenting.pk, refusing.pk])
    assert {d.pk: ids for d, ids in joining.items()} == {destination.pk: [consenting.pk]}


def test_a_busy_destination_is_pushed_again_after_the_running_sync(destination, django_capture_on_commit_callbacks):
    from audiences.sync import destination_lock

    lead = opted_in()
    tasks.services.audiences_refresh_marked()
    push.pushes_plan(push.destinations_joining(lead_ids=[lead.pk]))
    lock = destination_lock(destination)
    assert lock.acquire()
    try:
        with django_capture_on_commit_callbacks() as queued:
            assert tasks.destination_push(destination_pk=destination.pk) is None
        assert len(queued) == 1  # the push again, a few seconds later
        assert push.push_again(destination.pk, countdown=5) is False  # and only one waits
    finally:
        lock.release()
    assert tasks.destination_push(destination_pk=destination.pk) == "succeeded"
    assert SyncBatch.objects.filter(kind="add").count() == 1


def test_a_mark_moved_while_the_refresher_worked_is_kept():
    first, second = LeadFactory.create(), LeadFactory.create()
    leads_mark_changed(lead_ids=[first.pk, second.pk])
    taken = marks_take(limit=10)
    LeadMark.objects.filter(lead=second).update(marked_at=timezone.now() + dt.timedelta(seconds=1))  # changed again
    assert marks_clear(taken) == 1
    assert list(LeadMark.objects.values_list("lead_id", flat=True)) == [second.pk]


def test_marks_are_taken_oldest_first_up_to_the_limit():
    leads = [LeadFactory.create() for _ in range(3)]
    for offset, lead in enumerate(leads):
        LeadMark.objects.create(lead=lead, marked_at=days_ago(1 - offset / 10))
    assert [lead_id for lead_id, _ in marks_take(limit=2)] == [leads[0].pk, leads[1].pk]
    assert Consent.objects.count() == 0


def test_a_push_planned_while_another_runs_waits_a_window_from_that_ones_start(destination, settings):
    settings.AUDIENCE_PUSH_PREPARE_SECONDS = 0
    now = timezone.now()
    destination.last_synced_at = now - dt.timedelta(minutes=5)
    push.push_started(destination.pk)  # a push reads its diff now; its sync has not finished
    [following] = push.pushes_plan({destination: [1]}, now=now + dt.timedelta(seconds=1))
    assert following.countdown == pytest.approx(59, abs=0.5)


def test_a_push_sends_only_the_people_who_joined_and_leaves_the_schedule_to_full_syncs(
    destination, django_capture_on_commit_callbacks
):
    synced_at = days_ago(0.5)
    Destination.objects.filter(pk=destination.pk).update(last_synced_at=synced_at)
    earlier = opted_in()  # a member the last full sync missed: the next full sync sends them, not a push
    tasks.services.audiences_refresh_marked()
    joiner = opted_in()
    assert tasks.audiences_refresh_marked() == 1
    assert list(SyncLedger.objects.values_list("lead_id", flat=True)) == [joiner.pk]
    destination.refresh_from_db()
    assert destination.last_synced_at == synced_at
    with django_capture_on_commit_callbacks() as queued:  # a push now would be a second request within the window
        assert tasks.destination_push(destination_pk=destination.pk) == "early"
    assert len(queued) == 1  # it runs when the window is over
    assert not SyncLedger.objects.filter(lead=earlier).exists()


def test_a_push_takes_along_whoever_joined_since_the_refreshers_last_pass(destination):
    Destination.objects.filter(pk=destination.pk).update(last_synced_at=days_ago(1))
    planned = opted_in()
    assert tasks.services.audiences_refresh_marked() == [planned.pk]  # refreshed, but the push not yet run
    push.pushes_plan(push.destinations_joining(lead_ids=[planned.pk]))
    just_now = opted_in()  # marked a moment before the push: not yet refreshed
    stranger = opted_in(consent=False)  # marked too, but joins no destination
    assert tasks.destination_push(destination_pk=destination.pk) == "succeeded"
    assert set(SyncLedger.objects.values_list("lead_id", flat=True)) == {planned.pk, just_now.pk}
    assert SyncBatch.objects.filter(kind="add").count() == 1  # one request for both
    assert set(LeadMark.objects.values_list("lead_id", flat=True)) == {just_now.pk, stranger.pk}  # the refresher's
    assert tasks.audiences_refresh_marked() == 2  # which finds the ledger holding the one who joined: no push
    assert SyncBatch.objects.filter(kind="add").count() == 1


def test_a_push_reads_its_rows_before_its_slot_and_sends_them_when_the_window_ends(destination, settings):
    settings.AUDIENCE_PUSH_SECONDS = 60
    settings.AUDIENCE_PUSH_PREPARE_SECONDS = 0.75
    synced_at = timezone.now() - dt.timedelta(seconds=59.6)  # the slot opens in 0.4 s: within the preparation
    Destination.objects.filter(pk=destination.pk).update(last_synced_at=synced_at)
    lead = opted_in()
    tasks.services.audiences_refresh_marked()
    push.pushes_plan(push.destinations_joining(lead_ids=[lead.pk]))
    assert tasks.destination_push(destination_pk=destination.pk) == "succeeded"  # not sent round again as early
    [batch] = SyncBatch.objects.filter(kind="add")
    assert batch.created_at >= synced_at + dt.timedelta(seconds=60)  # the request left when the window was over


def test_at_its_last_call_a_push_takes_in_who_joined_while_it_prepared(destination, settings):
    settings.AUDIENCE_PUSH_LAST_CALL_SECONDS = 0.2
    first = opted_in()
    tasks.services.audiences_refresh_marked()
    meanwhile = opted_in()  # joins after the push read its rows: offered at the last call
    tasks.services.audiences_refresh_marked()
    asked = []

    def last_call():
        asked.append(time.time())
        return [meanwhile.pk, first.pk]  # one it already carries: not sent twice

    slot = time.time() + 0.5
    run = destination_sync(destination=destination, lead_ids=[first.pk], not_before=slot, last_call=last_call)

    [batch] = SyncBatch.objects.filter(run=run, kind="add")
    assert (run.status, run.to_add, batch.size) == ("succeeded", 2, 2)  # one request for both
    assert set(SyncLedger.objects.values_list("lead_id", flat=True)) == {first.pk, meanwhile.pk}
    assert slot - 0.3 <= asked[0] <= slot  # asked a moment before the slot, not when the rows were read
    assert batch.created_at.timestamp() >= slot  # and the request still left at the slot


def test_the_last_call_is_who_the_refresher_found_meanwhile_and_who_is_marked_not_yet_refreshed(destination):
    Destination.objects.filter(pk=destination.pk).update(last_synced_at=timezone.now())
    found = opted_in()
    tasks.services.audiences_refresh_marked()
    push.pushes_plan(push.destinations_joining(lead_ids=[found.pk]))  # gathered for the next push
    marked = opted_in()  # marked, not yet refreshed

    assert push.push_last_call(destination) == sorted([found.pk, marked.pk])
    assert push.push_started(destination.pk) == []  # taken: the next push does not carry them again
