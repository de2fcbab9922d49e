"""One run at a time sends to a destination, whoever starts it, and a lock is only ever renewed or released by the
run that holds it."""

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audiences.models import SyncRun
from audiences.services import audience_refresh
from audiences.sync import SyncInProgress, destination_lock, destination_reconcile, destination_sync
from common.locks import Lock, LockLost
from tests.factories import AudienceFactory, UserFactory, destination_make
from tests.factories import opted_in_member as member

pytestmark = pytest.mark.django_db


@pytest.fixture
def destination():
    audience = AudienceFactory.create(rule={"event": {"type": "optin", "within_days": 7}})
    member("ada@example.com")
    audience_refresh(audience=audience)
    return destination_make(audience=audience, name="Sandbox", platform="sandbox")


def test_the_admin_and_the_reconcile_wait_for_a_sync_under_way(destination):
    held = destination_lock(destination)
    assert held.acquire()  # a scheduled sync is running
    with pytest.raises(SyncInProgress):
        destination_sync(destination=destination)
    with pytest.raises(SyncInProgress):
        destination_reconcile(destination=destination)
    client = Client()
    client.force_login(UserFactory.create(role="marketer"))
    page = client.post(
        reverse("admin:audiences_destination_changelist"),
        {"action": "sync_now", "_selected_action": [destination.pk]},
        follow=True,
    )
    assert "is being synced right now" in page.content.decode()
    assert not SyncRun.objects.filter(dry_run=False).exists()  # nothing ran beside it
    held.release()
    assert destination_sync(destination=destination).status == "succeeded"


def test_a_running_run_is_closed_as_interrupted_only_once_its_owner_lost_the_lock(destination):
    stale = SyncRun.objects.create(destination=destination, started_at=timezone.now())
    held = destination_lock(destination)
    assert held.acquire()
    with pytest.raises(SyncInProgress):
        destination_sync(destination=destination)
    stale.refresh_from_db()
    assert stale.status == "running"  # its owner still holds the lock
    cache.delete(held.key)  # the owner's lock lapses (its worker died)
    destination_sync(destination=destination)
    stale.refresh_from_db()
    assert stale.status == "failed"
    assert stale.error.startswith("Interrupted")


def test_a_lapsed_owner_neither_renews_nor_releases_the_next_owners_lock():
    first = Lock("tests:lock", lapse=60)
    assert first.acquire()
    cache.delete("tests:lock")  # lapsed
    second = Lock("tests:lock", lapse=60)
    assert second.acquire()
    with pytest.raises(LockLost):
        first.renew()
    first.release()
    assert not Lock("tests:lock", lapse=60).acquire()  # the second owner still holds it
    second.renew()
    second.release()
    assert Lock("tests:lock", lapse=60).acquire()


def test_anyone_can_see_whether_a_lock_is_taken_without_taking_it():
    glance = Lock("tests:glance", lapse=60)
    assert not glance.taken()
    owner = Lock("tests:glance", lapse=60)
    assert owner.acquire()
    assert glance.taken()  # held by another owner
    assert not glance.acquire()
    owner.release()
    assert not glance.taken()
