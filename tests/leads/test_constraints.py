import pytest
from django.db import IntegrityError, transaction

from leads.models import Event, Lead, Stage
from tests.factories import EventFactory, LeadFactory

pytestmark = pytest.mark.django_db


def test_one_lead_per_email():
    LeadFactory.create(email="ada@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        LeadFactory.create(email="ada@example.com")
    assert Lead.objects.filter(email="ada@example.com").count() == 1


def test_database_refuses_an_unnormalized_email():
    LeadFactory.create(email="ada@example.com")
    # A differently-cased copy would slip past a plain unique index; the check constraint stops it.
    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.create(email="Ada@Example.com")
    assert Lead.objects.count() == 1


@pytest.mark.parametrize("phone", ["4155550123", "+0123456789", "+1 415 555 0123", "+12"])
def test_database_refuses_a_phone_not_in_e164(phone):
    with pytest.raises(IntegrityError), transaction.atomic():
        LeadFactory.create(phone=phone)
    assert Lead.objects.count() == 0


def test_event_needs_a_lead_or_a_visitor_and_a_unique_key():
    with pytest.raises(IntegrityError), transaction.atomic():
        Event.objects.create(type="page_view", occurred_at="2026-01-01T00:00Z", idempotency_key="a")
    EventFactory.create(idempotency_key="same")
    with pytest.raises(IntegrityError), transaction.atomic():
        EventFactory.create(idempotency_key="same")
    assert Event.objects.count() == 1


def test_custom_event_needs_a_name():
    with pytest.raises(IntegrityError), transaction.atomic():
        EventFactory.create(type="custom", name="")
    assert Event.objects.count() == 0


def test_stage_win_probability_is_a_percentage():
    with pytest.raises(IntegrityError), transaction.atomic():
        Stage.objects.create(name="Too sure", position=99, win_probability=101)
    assert not Stage.objects.filter(name="Too sure").exists()


def test_default_pipeline_stages_exist():
    assert list(Stage.objects.values_list("name", flat=True)) == [
        "New",
        "Engaged",
        "Qualified",
        "Customer",
        "Proposal",
        "Won",
        "Lost",
    ]
