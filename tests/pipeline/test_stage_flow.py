"""Stage flow from the stage history: entries in the period, how many moved on, the median time in the stage."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from leads.models import Lead, Stage
from leads.pipeline import leads_stage_move
from pipeline.selectors import stage_flow
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_entries_moves_on_and_median_days_follow_the_definition():
    now = timezone.now()
    new, engaged, lost = (Stage.objects.get(name=n) for n in ("New", "Engaged", "Lost"))
    a, b, c = LeadFactory.create_batch(3)

    def move(lead, stage, days_ago):
        leads_stage_move(
            leads=Lead.objects.filter(pk=lead.pk), to_stage=stage, by_id=None, now=now - dt.timedelta(days=days_ago)
        )

    move(a, new, 10)
    move(a, engaged, 7)  # 3 days in New, moved on
    move(b, new, 9)
    move(b, lost, 1)  # 8 days in New; Lost is later by position: moved on
    move(c, new, 200)  # entered before the period
    move(c, engaged, 5)  # its next move is in the period, but the entry is not
    rows = {row.stage.name: row for row in stage_flow(since=now - dt.timedelta(days=30), until=now)}
    assert (rows["New"].entered, rows["New"].moved_on, rows["New"].left) == (2, 2, 2)
    assert rows["New"].median_days == pytest.approx(5.5)
    assert rows["New"].conversion == 1.0
    assert (rows["Engaged"].entered, rows["Engaged"].moved_on, rows["Engaged"].median_days) == (2, 0, None)
    assert rows["Qualified"].conversion is None

    client = Client()
    client.force_login(UserFactory.create(role="sales"))
    html = client.get("/admin/pipeline/flow/").content.decode()
    assert "Stage flow, last 90 days" in html
    assert "5.5 (of 2)" in html
