"""Erasure reaches every destination once, deletes the person's data, and keeps them from coming back."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audiences.models import AudienceMember, SyncBatch, SyncLedger
from audiences.services import audience_refresh
from audiences.sync import destination_sync
from common.errors import ApplicationError
from leads.models import Consent, Event, Lead, Suppression, Touch
from leads.services import lead_capture
from tests.factories import AudienceFactory, ConsentFactory, EventFactory, days_ago, destination_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(django_capture_on_commit_callbacks):
    """Ann, opted in with ad consent, in an audience synced to two sandbox destinations."""
    audience = AudienceFactory.create(rule={"event": {"type": "optin"}})
    destinations = [
        destination_make(audience=audience, name=name, platform="sandbox", account_id=name) for name in ("one", "two")
    ]
    capture = lead_capture(email="Ann@Example.com", first_name="Ann", idempotency_key="optin:ann", source="test")
    lead = Lead.objects.get(pk=capture.lead_id)
    ConsentFactory.create(lead=lead, occurred_at=days_ago(1))
    Touch.objects.create(lead=lead, kind="first", occurred_at=days_ago(1), utm_source="facebook")
    audience_refresh(audience=audience)
    for destination in destinations:
        destination_sync(destination=destination)
    return lead, destinations


def test_erasure_removes_once_from_every_destination_and_never_adds_again(held, django_capture_on_commit_callbacks):
    lead, destinations = held
    stored = {d.pk: SyncLedger.objects.get(destination=d, lead=lead).hashes for d in destinations}
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):  # the queued syncs run
        call_command("lead_erase", "--email", " ANN@example.com ", stdout=out)
    assert "removal queued for 2 destination(s)" in out.getvalue()
    for destination in destinations:
        (removal,) = SyncBatch.objects.filter(run__destination=destination, kind="remove")
        assert removal.payload == [stored[destination.pk]]
        assert SyncLedger.objects.get(destination=destination, lead=lead).state == "removed"
    lead.refresh_from_db()
    assert lead.erased_at is not None
    assert (lead.email, lead.first_name) == (f"erased-{lead.public_id}@erased.invalid", "")
    assert not Consent.objects.filter(lead=lead).exists()
    assert not Touch.objects.filter(lead=lead).exists()
    assert AudienceMember.objects.count() == 0
    # What the form submitted, kept on the opt-in event, is erased with the rest.
    assert not Event.objects.filter(lead=lead, properties__has_key="submitted").exists()
    EventFactory.create(lead=lead, type="optin")  # even with new events, never a member or an upload again
    audience_refresh(audience=destinations[0].audience)
    for destination in destinations:
        assert destination_sync(destination=destination).sent == 0


def test_an_erased_address_cannot_be_captured_again(held):
    lead, _ = held
    call_command("lead_erase", "--email", "ann@example.com", stdout=StringIO())
    assert Suppression.objects.count() == 1
    with pytest.raises(ApplicationError, match="asked to be forgotten"):
        lead_capture(email="ann@example.com", idempotency_key="optin:again", source="test")
    assert Lead.objects.count() == 1


def test_erasing_an_unknown_address_is_a_one_line_error():
    with pytest.raises(CommandError, match="No lead has that e-mail address"):
        call_command("lead_erase", "--email", "nobody@example.com", stdout=StringIO())
