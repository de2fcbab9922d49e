"""Bulk changes from the lead list: stage, owner and tags for a selection or every lead the filters match, set-based
with one history row per lead moved; and the list's CSV download."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from leads.models import Lead, LeadMark, Stage, StageMove, Tag
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def seller():
    user = UserFactory.create(role="sales")
    client = Client()
    client.force_login(user)
    return client, user


def act(client: Client, action: str, leads: list[Lead] | None = None, **chosen: object):
    data = {"action": action, "index": 0, **chosen}
    if leads is None:
        data["select_across"] = 1
        data["_selected_action"] = [str(Lead.objects.first().pk)]  # type: ignore[union-attr]
    else:
        data["_selected_action"] = [str(lead.pk) for lead in leads]
    return client.post("/admin/leads/lead/", data)


def test_moving_every_matching_lead_is_set_based_with_a_history_row_each(seller):
    client, user = seller
    leads = LeadFactory.create_batch(40)
    qualified = Stage.objects.get(name="Qualified")
    with CaptureQueriesContext(connection) as queries:
        answer = act(client, "move_to_stage", stage=qualified.pk)
    assert answer.status_code == 302
    assert Lead.objects.filter(stage=qualified).count() == 40
    assert StageMove.objects.filter(to_stage=qualified, moved_by=user, automatic=False).count() == 40
    assert LeadMark.objects.filter(lead__in=leads).count() == 40  # audiences that read the stage are told
    assert len(queries) < 40, "one statement per batch, not one per lead"


def test_owner_and_tags_change_for_the_selected_leads_only(seller):
    client, user = seller
    chosen, other = LeadFactory.create_batch(3), LeadFactory.create()
    vip = Tag.objects.create(name="vip")
    act(client, "give_to_owner", chosen, owner=user.pk)
    act(client, "add_tag", chosen, tag=vip.pk)
    assert set(Lead.objects.filter(owner=user)) == set(chosen)
    assert set(vip.leads.all()) == set(chosen)
    act(client, "remove_tag", chosen[:1], tag=vip.pk)
    assert set(vip.leads.all()) == set(chosen[1:])
    other.refresh_from_db()
    assert other.owner is None


def test_an_action_without_its_choice_says_what_to_choose_and_changes_nothing(seller):
    client, _ = seller
    lead = LeadFactory.create()
    answer = act(client, "move_to_stage", [lead])
    page = client.get(answer["Location"])
    assert "Choose the stage next to the action first." in page.content.decode()
    assert not StageMove.objects.exists()


def test_the_csv_download_quotes_what_a_spreadsheet_would_run(seller):
    client, _ = seller
    lead = LeadFactory.create(first_name='=HYPERLINK("http://x")', phone="+14155550123")
    answer = act(client, "export", [lead])
    body = b"".join(answer.streaming_content).decode()
    assert "'=HYPERLINK" in body
    assert ",+14155550123," in body
