"""The upgrade that normalizes UTM values: touches captured before are rewritten, and the rollups grouped by
source and campaign are recomputed so a channel report shows one row where it showed a row per spelling."""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from analytics.models import ChannelDay, RollupCursor
from analytics.reports import channels_report
from analytics.reports.ranges import Period
from analytics.services import rollups_catch_up
from leads.models import Touch
from tests.factories import EventFactory, LeadFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _back_to_the_latest_schema():
    """Migrating back also unapplies what depends on the rollups (the pipeline's kept totals); every later test in
    this process needs the whole schema again."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


# The rollups as they were before the rewrite, beside the lead table as the models have it now (leads' latest).
BEFORE = [("analytics", "0003_exchange_rate"), ("leads", None)]
AFTER = [("analytics", "0004_normalized_utm")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    leaves = dict(node for node in executor.loader.graph.leaf_nodes())
    executor.migrate([(app, name or leaves[app]) for app, name in targets])


def touch(lead, source, campaign):
    """A lead as an earlier release captured it: its touch keeps the spelling of the campaign's link."""
    Touch.objects.create(lead=lead, kind="first", occurred_at=lead.created_at, utm_source=source, utm_campaign=campaign)
    EventFactory.create(lead=lead)


def first_touch_rows():
    today = timezone.localdate()
    period = Period(today - dt.timedelta(days=1), today + dt.timedelta(days=1))
    return sorted((r.source, r.campaign, r.leads) for r in channels_report(period=period) if r.touch == "first")


def test_touches_are_rewritten_and_the_channel_rollups_recomputed():
    migrate(BEFORE)
    for number, (source, campaign) in enumerate(
        [("Facebook", "Spring Sale"), (" facebook ", "spring  sale"), ("google", "")]
    ):
        touch(LeadFactory.create(email=f"lead{number}@example.com"), source, campaign)
    rollups_catch_up()
    assert first_touch_rows() == [(" facebook ", "spring  sale", 1), ("Facebook", "Spring Sale", 1), ("google", "", 1)]

    migrate(AFTER)

    assert sorted(Touch.objects.values_list("utm_source", "utm_campaign")) == [
        ("facebook", "spring sale"),
        ("facebook", "spring sale"),
        ("google", ""),
    ]
    assert (ChannelDay.objects.count(), RollupCursor.objects.get(name="events").position) == (0, 0)
    rollups_catch_up()
    assert first_touch_rows() == [("facebook", "spring sale", 2), ("google", "", 1)]


def test_an_install_with_nothing_to_rewrite_keeps_its_rollups():
    migrate(BEFORE)
    touch(LeadFactory.create(email="plain@example.com"), "facebook", "spring")
    rollups_catch_up()
    position = RollupCursor.objects.get(name="events").position
    rows = ChannelDay.objects.count()

    migrate(AFTER)

    assert (ChannelDay.objects.count(), RollupCursor.objects.get(name="events").position) == (rows, position)
    assert rows > 0
    assert position > 0
