"""The nightly spend import on a real Celery worker (Redis broker, this test's PostgreSQL): beat's task queues one
import per due account, the worker reads Meta's report through the official SDK from the loopback Graph API, and a
throttled import is retried by the worker after Meta's wait, with nothing secret in its log."""

import datetime as dt

import pytest
from django.utils import timezone

from spend.models import AdAccount, CampaignDay, SpendImport
from tests import celery_worker
from tests.fakes.meta_graph import MetaGraphFake
from tests.spend.test_meta_import import ACCOUNT, TOKEN, row

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def graph():
    fake = MetaGraphFake(access_token=TOKEN)
    fake.report_polls = 0
    yield fake
    fake.stop()


def test_the_nightly_import_runs_on_a_worker_and_waits_out_throttling(settings, graph):
    account = AdAccount.objects.create(platform="meta", account_id=ACCOUNT, credentials=TOKEN)
    today = timezone.localdate()
    graph.spend[ACCOUNT] = [row("1", today - dt.timedelta(days=n), "3.00") for n in range(35)]
    # The first request is throttled; Meta says access comes back in about a second (0.02 minutes).
    graph.fail_next(4, subcode=1504022, transient=True, usage={"5550001": [{"estimated_time_to_regain_access": 0.02}]})
    worker = celery_worker.worker_start(settings, loglevel="info", META_GRAPH_URL=graph.url)
    try:
        celery_worker.client().send_task("spend.import_recent")  # as beat does nightly
        assert celery_worker.wait_for(
            lambda: SpendImport.objects.filter(account=account, status="succeeded").exists(), seconds=180
        )
    finally:
        output = celery_worker.worker_stop(worker)
    assert CampaignDay.objects.filter(account=account).count() == 28  # the last 28 days, not all 35
    assert list(
        SpendImport.objects.filter(account=account).values_list("status", flat=True).order_by("started_at")
    ) == [
        "failed",
        "succeeded",
    ]
    assert "Retry in" in output  # the worker retried it
    assert TOKEN not in output
