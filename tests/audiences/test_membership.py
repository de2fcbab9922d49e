"""Stored audience members: full rebuilds, live updates from marked leads, and rules that broke."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audiences import tasks
from audiences.models import Audience, AudienceMember, AudienceSize
from audiences.services import audience_refresh, audiences_refresh_marked
from leads.contracts import EventRefs
from leads.models import LeadMark
from leads.services import event_record, lead_capture
from offers.models import Offer
from tests.factories import AudienceFactory, EventFactory, LeadFactory, OfferFactory, days_ago

pytestmark = pytest.mark.django_db

OPTED_IN = {"event": {"type": "optin", "within_days": 7}}


def members(audience):
    return sorted(AudienceMember.objects.filter(audience=audience).values_list("lead__email", flat=True))


def size_after_refresh(audience):
    result = audience_refresh(audience=audience)
    assert result is not None
    return result.size


def test_a_full_refresh_adds_and_removes_and_records_the_days_size():
    audience = AudienceFactory.create(rule=OPTED_IN)
    fresh = LeadFactory.create(email="fresh@example.com")
    EventFactory.create(lead=fresh, type="optin", occurred_at=days_ago(1))
    stale = LeadFactory.create(email="stale@example.com")
    EventFactory.create(lead=stale, type="optin", occurred_at=days_ago(1))
    AudienceMember.objects.create(
        audience=audience, lead=LeadFactory.create(email="gone@example.com"), since=days_ago(9)
    )
    result = audience_refresh(audience=audience)
    assert result is not None
    assert (result.added, result.removed, result.size) == (2, 1, 2)
    assert members(audience) == ["fresh@example.com", "stale@example.com"]
    EventFactory.create(lead=LeadFactory.create(), type="optin", occurred_at=days_ago(20))  # outside the window
    with CaptureQueriesContext(connection) as small:
        assert size_after_refresh(audience) == 2
    for _ in range(30):
        EventFactory.create(lead=LeadFactory.create(), type="optin", occurred_at=days_ago(2))
    with CaptureQueriesContext(connection) as large:
        assert size_after_refresh(audience) == 32
    assert len(large.captured_queries) == len(small.captured_queries)  # set-based: no statement per lead
    audience.refresh_from_db()
    assert audience.member_count == 32
    assert audience.refreshed_at is not None
    assert list(AudienceSize.objects.values_list("day", "size")) == [(timezone.localdate(), 32)]


def test_members_keep_the_time_they_joined():
    audience = AudienceFactory.create(rule=OPTED_IN)
    EventFactory.create(lead=LeadFactory.create(), type="optin", occurred_at=days_ago(1))
    audience_refresh(audience=audience, now=days_ago(0.5))
    since = AudienceMember.objects.get().since
    audience_refresh(audience=audience)
    assert AudienceMember.objects.get().since == since


def test_a_new_optin_marks_the_lead_and_the_next_run_adds_it():
    audience = AudienceFactory.create(rule=OPTED_IN)
    audience_refresh(audience=audience)
    lead_capture(email="new@example.com", idempotency_key="optin:new", source="test")
    assert LeadMark.objects.filter(lead__email="new@example.com").exists()
    assert members(audience) == []
    assert len(audiences_refresh_marked(settle_seconds=0)) == 1
    assert members(audience) == ["new@example.com"]
    assert LeadMark.objects.count() == 0
    assert audiences_refresh_marked(settle_seconds=0) == []


def test_a_purchase_moves_the_lead_out_of_a_non_buyers_audience():
    tripwire = OfferFactory.create(role="tripwire")
    audience = AudienceFactory.create(rule={"all": [OPTED_IN, {"not": {"event": {"type": "purchase"}}}]})
    lead = LeadFactory.create(email="ann@example.com")
    event_record(type="optin", idempotency_key="o:1", lead=lead)
    audiences_refresh_marked(settle_seconds=0)
    assert members(audience) == ["ann@example.com"]
    event_record(type="purchase", idempotency_key="p:1", lead=lead, refs=EventRefs(offer_id=tripwire.pk))
    audiences_refresh_marked(settle_seconds=0)
    assert members(audience) == []


def test_marks_younger_than_the_settling_time_wait_for_the_next_run():
    AudienceFactory.create(rule=OPTED_IN)
    event_record(type="optin", idempotency_key="o:2", lead=LeadFactory.create())
    assert audiences_refresh_marked(settle_seconds=60) == []
    assert LeadMark.objects.count() == 1


def test_a_rule_broken_by_a_deleted_offer_keeps_its_members_and_says_why():
    offer = OfferFactory.create(role="tripwire")
    audience = AudienceFactory.create(rule={"not": {"purchase": {"offer": offer.pk}}})
    LeadFactory.create(email="kept@example.com")
    audience_refresh(audience=audience)
    assert members(audience) == ["kept@example.com"]
    Offer.objects.filter(pk=offer.pk).delete()
    assert audience_refresh(audience=audience) is None
    audience.refresh_from_db()
    assert f"rule.not.purchase.offer: offer {offer.pk} does not exist" in audience.rule_error
    assert members(audience) == ["kept@example.com"]


def test_an_invalid_rule_cannot_be_saved_through_validation():
    audience = Audience(name="Bad", slug="bad", rule={"event": {"type": "optin", "within_days": -1}})
    with pytest.raises(ValidationError) as refused:
        audience.full_clean()
    assert (
        "rule.event.within_days: expected a whole number of at least 1, not -1." in refused.value.message_dict["rule"]
    )


def test_due_audiences_are_rebuilt_on_their_interval():
    due = AudienceFactory.create(rule=OPTED_IN, refresh_minutes=30)
    fresh = AudienceFactory.create(rule=OPTED_IN, refresh_minutes=30, refreshed_at=timezone.now())
    assert tasks.audiences_refresh_due() == 1
    due.refresh_from_db()
    fresh_before = fresh.refreshed_at
    fresh.refresh_from_db()
    assert due.refreshed_at is not None
    assert fresh.refreshed_at == fresh_before


def test_members_go_with_their_lead_and_their_audience():
    """Members carry no database foreign keys (they are rebuilt in bulk); deleting still takes them along."""
    audience, other = AudienceFactory.create(rule=OPTED_IN), AudienceFactory.create(rule=OPTED_IN)
    leaving, staying = LeadFactory.create(), LeadFactory.create()
    for lead in (leaving, staying):
        EventFactory.create(lead=lead, type="optin", occurred_at=days_ago(1))
    for each in (audience, other):
        audience_refresh(audience=each)
    leaving.delete()
    assert sorted(AudienceMember.objects.values_list("audience_id", "lead_id")) == sorted(
        [(audience.pk, staying.pk), (other.pk, staying.pk)]
    )
    other.delete()
    assert list(AudienceMember.objects.values_list("audience_id", "lead_id")) == [(audience.pk, staying.pk)]
