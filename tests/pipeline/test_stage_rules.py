"""Automatic stage moves from the event log, the stage history, and a person's move outranking the rules."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from leads.contracts import EventRefs
from leads.models import Lead, Stage, StageMove
from leads.pipeline import leads_stage_move
from leads.services import event_record
from offers.models import Order
from pipeline.models import PipelineSettings
from pipeline.services import pipeline_advance, pipeline_catch_up
from tests.admin_forms import form_data
from tests.factories import LeadFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db


def stage(name: str) -> Stage:
    return Stage.objects.get(name=name)


def happen(
    lead: Lead, type_: str, key: str, *, at: dt.datetime | None = None, order: Order | None = None, **extra: object
) -> None:
    event_record(
        type=type_,
        idempotency_key=key,
        occurred_at=at or timezone.now(),
        lead=lead,
        refs=EventRefs(order_id=order.pk if order else None),
        properties=dict(extra),
    )


def history(lead: Lead) -> list[tuple[str | None, str | None, bool]]:
    return [
        (m.from_stage.name if m.from_stage else None, m.to_stage.name if m.to_stage else None, m.automatic)
        for m in StageMove.objects.filter(lead=lead).order_by("occurred_at", "pk")
    ]


def test_the_default_rules_walk_a_buyer_up_the_ladder_and_a_full_refund_steps_back():
    lead = LeadFactory.create()
    start = timezone.now() - dt.timedelta(days=3)
    happen(lead, "optin", "o1", at=start)
    happen(lead, "purchase", "p1", at=start + dt.timedelta(hours=1), role="tripwire")
    pipeline_catch_up()
    lead.refresh_from_db()
    assert lead.stage == stage("Customer")
    assert history(lead) == [(None, "New", True), ("New", "Customer", True)]

    order = OrderFactory.create(lead=lead, status=Order.Status.PARTIALLY_REFUNDED)
    happen(lead, "refund", "r1", at=start + dt.timedelta(hours=2), order=order)
    pipeline_catch_up()
    lead.refresh_from_db()
    assert lead.stage == stage("Customer"), "a partial refund moves nothing"

    Order.objects.filter(pk=order.pk).update(status=Order.Status.REFUNDED)
    happen(lead, "refund", "r2", at=start + dt.timedelta(hours=3), order=order)
    pipeline_catch_up()
    lead.refresh_from_db()
    assert lead.stage == stage("New"), "a full refund goes back to the stage before"
    assert history(lead)[-1] == ("Customer", "New", True)


def test_rules_only_move_forward_and_each_event_is_applied_once():
    lead = LeadFactory.create()
    happen(lead, "purchase", "p1", role="core")
    pipeline_catch_up()
    happen(lead, "optin", "o1")  # an opt-in after winning does not send the lead back to "New"
    happen(lead, "purchase", "p2", role="tripwire")
    pipeline_catch_up()
    pipeline_catch_up()
    lead.refresh_from_db()
    assert lead.stage == stage("Won")
    assert history(lead) == [(None, "Won", True)]


def test_a_persons_move_outranks_the_rules_for_the_configured_period():
    seller = UserFactory.create(role="sales")
    lead = LeadFactory.create()
    now = timezone.now()
    leads_stage_move(
        leads=Lead.objects.filter(pk=lead.pk), to_stage=stage("Lost"), by_id=seller.pk, now=now - dt.timedelta(days=5)
    )
    PipelineSettings.objects.update_or_create(pk=1, defaults={"manual_wins_days": 14})
    happen(lead, "purchase", "p1", at=now, role="tripwire")
    pipeline_catch_up()
    lead.refresh_from_db()
    assert lead.stage == stage("Lost"), "moved by a person five days ago: the rule waits"

    PipelineSettings.objects.filter(pk=1).update(manual_wins_days=3)
    happen(lead, "purchase", "p2", at=now + dt.timedelta(minutes=1), role="core")
    pipeline_catch_up()
    lead.refresh_from_db()
    assert lead.stage == stage("Won"), "past the period the rules move the lead again"
    moves = StageMove.objects.filter(lead=lead).order_by("occurred_at")
    assert [(m.moved_by_id, m.automatic) for m in moves] == [(seller.pk, False), (None, True)]


def test_events_committed_after_the_cursor_passed_them_are_still_applied():
    early, late = LeadFactory.create(), LeadFactory.create()
    happen(early, "optin", "o-early")
    pipeline_advance()
    happen(late, "optin", "o-late")
    assert pipeline_advance() == 1
    late.refresh_from_db()
    assert late.stage == stage("New")
    assert late.last_activity_at is not None


def test_a_stage_change_in_the_admin_is_recorded_as_a_move_by_that_person():
    seller = UserFactory.create(role="sales")
    lead = LeadFactory.create()
    client = Client()
    client.force_login(seller)
    form = form_data(client, f"/admin/leads/lead/{lead.pk}/change/")
    form["stage"] = str(stage("Qualified").pk)
    answer = client.post(f"/admin/leads/lead/{lead.pk}/change/", form)
    assert answer.status_code == 302, answer.content.decode()[:3000]
    move = StageMove.objects.get(lead=lead)
    assert (move.from_stage, move.to_stage, move.moved_by, move.automatic) == (None, stage("Qualified"), seller, False)
    assert "Qualified" in client.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()
