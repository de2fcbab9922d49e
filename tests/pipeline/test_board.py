"""The board: columns with counts and weighted value, cards, filters, moves by drag (JSON) or by the card's menu."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from analytics.models import Buyer
from leads.models import Lead, Stage, StageMove
from leads.pipeline import leads_stage_move, task_add
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


def login(role: str | None) -> tuple[Client, User]:
    user = UserFactory.create(role=role) if role else UserFactory.create()
    client = Client()
    client.force_login(user)
    return client, user


def in_stage(name: str, **kwargs: object) -> Lead:
    lead = LeadFactory.create(**kwargs)
    leads_stage_move(leads=Lead.objects.filter(pk=lead.pk), to_stage=Stage.objects.get(name=name), by_id=None)
    return lead


def test_columns_count_leads_and_weigh_their_value_by_the_stages_win_probability():
    qualified = Stage.objects.get(name="Qualified")  # 35 %
    a, b = in_stage("Qualified", score=30), in_stage("Qualified", score=5)
    in_stage("New")
    today = timezone.localdate()
    Buyer.objects.create(lead_id=a.pk, currency="USD", first_day=today, last_day=today, orders=1, net_minor=1001)
    Buyer.objects.create(lead_id=b.pk, currency="USD", first_day=today, last_day=today, orders=1, net_minor=1000)
    Buyer.objects.create(lead_id=b.pk, currency="EUR", first_day=today, last_day=today, orders=1, net_minor=300)
    client, _ = login("sales")
    page = client.get("/admin/pipeline/")
    assert page.status_code == 200
    columns = {c.stage.name if c.stage else None: c for c in page.context["columns"]}
    column = columns["Qualified"]
    assert column.count == 2
    assert column.stage == qualified
    # 2001 × 35 % = 700.35 → 700; 300 × 35 % = 105: each currency apart, never added together.
    assert column.weighted == [("EUR", 105), ("USD", 700)]
    assert [card.lead for card in column.cards] == [a, b]  # highest score first
    assert [card.score for card in column.cards] == [30, 5]
    assert columns["New"].count == 1
    html = page.content.decode()
    assert "US$7.00" in html or "$7.00" in html


def test_filters_narrow_the_board_and_a_bad_filter_is_named():
    client, me = login("sales")
    mine = in_stage("New", score=50)
    Lead.objects.filter(pk=mine.pk).update(owner=me)
    in_stage("New", score=1)
    page = client.get("/admin/pipeline/?owner=me")
    assert sum(c.count for c in page.context["columns"]) == 1
    page = client.get("/admin/pipeline/?score_min=10")
    assert sum(c.count for c in page.context["columns"]) == 1
    refused = client.get("/admin/pipeline/?score_min=lots")
    assert refused.status_code == 400
    assert "score_min: Enter a whole number" in refused.content.decode()


def test_stale_leads_are_marked_and_an_open_task_keeps_a_lead_fresh():
    client, me = login("sales")
    quiet = in_stage("Qualified")  # stale after 7 days
    Lead.objects.filter(pk=quiet.pk).update(last_activity_at=timezone.now() - dt.timedelta(days=9), owner=me)
    planned = in_stage("Qualified")
    Lead.objects.filter(pk=planned.pk).update(last_activity_at=timezone.now() - dt.timedelta(days=9), owner=me)
    task_add(
        lead=planned, title="Call", due_at=timezone.now() + dt.timedelta(days=1), assignee_id=me.pk, created_by_id=me.pk
    )
    page = client.get("/admin/pipeline/?stale=1")
    assert [card.lead for column in page.context["columns"] for card in column.cards] == [quiet]
    day = client.get("/admin/pipeline/my-day/")
    assert day.status_code == 200
    assert [lead.pk for lead in day.context["stale"]] == [quiet.pk]


def test_a_move_from_the_board_is_recorded_with_who_made_it():
    client, seller = login("sales")
    lead = in_stage("New")
    proposal = Stage.objects.get(name="Proposal")
    answer = client.post(
        "/admin/pipeline/move/", {"lead": lead.pk, "stage": proposal.pk}, headers={"Accept": "application/json"}
    )
    assert answer.status_code == 200
    assert answer.json()["moved"] == 1
    move = StageMove.objects.filter(lead=lead).latest("pk")
    assert (move.from_stage, move.to_stage, move.moved_by, move.automatic) == (
        Stage.objects.get(name="New"),
        proposal,
        seller,
        False,
    )
    # The card's menu (no script): a redirect back to the board, with a message.
    back = client.post("/admin/pipeline/move/", {"lead": lead.pk, "stage": Stage.objects.get(name="Won").pk})
    assert back.status_code == 302
    assert back["Location"] == "/admin/pipeline/"


def test_bad_moves_are_refused_with_the_field_and_change_nothing():
    client, _ = login("sales")
    lead = in_stage("New")
    answer = client.post(
        "/admin/pipeline/move/", {"lead": lead.pk, "stage": 999999}, headers={"Accept": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json() == {"detail": "The move was refused.", "fields": {"stage": "That stage does not exist."}}
    answer = client.post("/admin/pipeline/move/", {"lead": "x"}, headers={"Accept": "application/json"})
    assert set(answer.json()["fields"]) == {"lead", "stage"}
    assert StageMove.objects.filter(lead=lead).count() == 1


@pytest.mark.parametrize(("role", "board", "move"), [("marketer", 200, 200), ("sales", 200, 200), (None, 403, 403)])
def test_who_may_see_the_board_and_move_cards(role, board, move):
    client, _ = login(role)
    lead = in_stage("New")
    assert client.get("/admin/pipeline/").status_code == board
    answer = client.post(
        "/admin/pipeline/move/",
        {"lead": lead.pk, "stage": Stage.objects.get(name="Engaged").pk},
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == move
    assert Client().get("/admin/pipeline/").status_code == 302  # signed out: to the login page


def test_an_empty_board_says_how_leads_arrive():
    client, _ = login("sales")
    html = client.get("/admin/pipeline/").content.decode()
    assert "No leads yet." in html
