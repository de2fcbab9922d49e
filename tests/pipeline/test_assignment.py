"""New leads get an owner when they opt in: the first matching assignment rule, else the next seller in turn."""

from __future__ import annotations

import pytest

from leads.contracts import EventRefs
from leads.models import Lead
from leads.services import event_record
from pipeline.models import AssignmentRule, PipelineSettings
from pipeline.services import pipeline_catch_up
from tests.factories import FunnelFactory, LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


def opt_in(lead: Lead, funnel_id: int | None = None) -> None:
    event_record(type="optin", idempotency_key=f"o{lead.pk}", lead=lead, refs=EventRefs(funnel_id=funnel_id))


def owners(*leads: Lead) -> list[str | None]:
    fresh = {lead.pk: lead for lead in Lead.objects.filter(pk__in=[lead.pk for lead in leads]).select_related("owner")}
    return [getattr(fresh[lead.pk].owner, "username", None) for lead in leads]


def test_rules_first_then_round_robin_among_active_sellers():
    anna, ben = UserFactory.create(role="sales"), UserFactory.create(role="sales")
    gone = UserFactory.create(role="sales", is_active=False)
    german = UserFactory.create(role="sales")
    AssignmentRule.objects.create(country="DE", owner=german)
    webinar = FunnelFactory.create()
    AssignmentRule.objects.create(position=1, funnel=webinar, owner=ben)
    PipelineSettings.objects.update_or_create(pk=1, defaults={"round_robin": True})

    de = LeadFactory.create(country="DE")
    by_funnel = LeadFactory.create(country="US")
    turns = LeadFactory.create_batch(4, country="US")
    owned = LeadFactory.create(country="DE", owner=anna)
    opt_in(de)
    opt_in(by_funnel, webinar.pk)
    for lead in turns:
        opt_in(lead)
    opt_in(owned)
    pipeline_catch_up()

    assert owners(de, by_funnel, owned) == [german.username, ben.username, anna.username]
    sellers = sorted([anna, ben, german], key=lambda u: u.pk)
    assert owners(*turns) == [u.username for u in (sellers * 2)[:4]]
    assert gone.username not in owners(*turns)


def test_without_round_robin_unmatched_leads_stay_unowned():
    UserFactory.create(role="sales")
    lead = LeadFactory.create(country="US")
    opt_in(lead)
    pipeline_catch_up()
    assert owners(lead) == [None]
