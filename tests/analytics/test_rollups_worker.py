"""The rollups kept by a real Celery worker on Redis, as beat runs them: what a report shows after the task ran
equals the rebuild, and a purchase confirmed late (after the cursor passed its id) is still counted."""

import uuid

import pytest
from django.db import connection, transaction

from analytics import reports, services
from analytics.models import OrderDay, RollupGap
from leads.contracts import EventRefs
from leads.services import event_record
from tests import celery_worker
from tests.analytics.conftest import build_sold
from tests.analytics.test_reports_reference import snapshot

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def optin_visitors(steps):
    period = reports.period_parse(None, None)
    return reports.distinct_visitors(step_ids=[steps["optin"].pk], period=period).get((1, steps["optin"].pk, 0), 0)


def test_the_beat_task_run_by_a_worker_keeps_the_rollups_equal_to_a_rebuild(settings):
    funnel, steps = build_sold()
    services.rollups_rebuild()
    visitor = uuid.uuid4()
    event_record(
        type="page_view",
        idempotency_key="pv:worker",
        visitor_id=visitor,
        refs=EventRefs(funnel_id=funnel.pk, step_id=steps["optin"].pk),
    )
    app = celery_worker.client()
    worker = celery_worker.worker_start(settings)
    try:
        app.send_task("analytics.rollups_advance")
        assert celery_worker.wait_for(lambda: optin_visitors(steps) == 4)
    finally:
        celery_worker.worker_stop(worker)
    kept = snapshot()
    services.rollups_rebuild()
    assert snapshot() == kept


def test_an_event_committed_after_the_cursor_passed_its_id_is_folded_in_later(settings):
    funnel, steps = build_sold()
    services.rollups_catch_up()
    # A slow transaction takes an id, then a later one commits and is folded past it.
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('leads_event', 'id'))")
        reserved = cursor.fetchone()[0]
    event_record(
        type="page_view",
        idempotency_key="pv:after",
        visitor_id=uuid.uuid4(),
        refs=EventRefs(funnel_id=funnel.pk, step_id=steps["optin"].pk),
    )
    services.rollups_catch_up()
    assert RollupGap.objects.filter(event_id=reserved).exists()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO leads_event (id, type, name, visitor_id, funnel_id, step_id, occurred_at, recorded_at,
                                        properties, idempotency_key)
               VALUES (%s, 'page_view', '', %s, %s, %s, now(), now(), '{}', 'pv:late')""",
            [reserved, uuid.uuid4(), funnel.pk, steps["optin"].pk],
        )
    services.rollups_catch_up()
    assert not RollupGap.objects.filter(event_id=reserved).exists()
    report = reports.funnel_report(funnel=funnel, period=reports.period_parse(None, None))
    assert report.steps[0].visitors == 5  # the three of the fixture, the one after, and the late one
    assert OrderDay.objects.exists()
