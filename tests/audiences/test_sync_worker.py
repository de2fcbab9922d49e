"""A real Celery worker on Redis syncs a Meta audience to the loopback Graph API: killed with SIGKILL mid-sync, the
next run sends what was left, with no member missing and none twice; throttling is backed off and completes."""

import json
import time

import pytest
from django.db import connection
from django.utils import timezone

from audiences.models import Audience, AudienceMember, SyncLedger, SyncRun
from audiences.sync import lead_hashes
from integrations.meta import audiences as meta_audiences
from leads.models import Consent, Lead
from tests import celery_worker
from tests.factories import destination_make
from tests.fakes.meta_graph import MetaGraphFake
from tests.fakes.tcp_proxy import TcpProxy

TOKEN = "EAAB-worker-" + "w" * 30
MEMBERS = 25_000  # three add requests of at most 10,000

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def start_worker(settings, graph):
    # The lock outlasts the 5 s a sync waits in place for a rate limit, as production's 300 s does.
    return celery_worker.worker_start(settings, META_GRAPH_URL=graph.url, AUDIENCE_SYNC_LOCK_SECONDS="8")


@pytest.fixture
def graph():
    fake = MetaGraphFake(access_token=TOKEN)
    yield fake
    fake.stop()


@pytest.fixture
def destination(graph):
    """An audience of MEMBERS consented people (written in bulk), to a Meta destination whose audience exists."""
    now = timezone.now()
    leads = Lead.objects.bulk_create(
        [Lead(email=f"person{n}@example.com", country="US") for n in range(MEMBERS)], batch_size=5_000
    )
    Consent.objects.bulk_create(
        [
            Consent(lead=lead, purpose="ad_audiences", status="granted", wording="Ads.", source="test", occurred_at=now)
            for lead in leads
        ],
        batch_size=5_000,
    )
    audience = Audience.objects.create(name="Everyone", slug="everyone", rule={"lead": {"consent": "ad_audiences"}})
    AudienceMember.objects.bulk_create(
        [AudienceMember(audience=audience, lead=lead, since=now) for lead in leads], batch_size=5_000
    )
    remote = meta_audiences.audience_create(
        access_token=TOKEN, ad_account_id="1234567890", name="Everyone", graph_url=graph.url
    )
    return destination_make(
        audience=audience,
        name="Meta",
        platform="meta",
        account_id="act_1234567890",
        credentials=TOKEN,
        remote_audience_id=remote,
    )


def held_exactly(graph, destination):
    expected = {
        tuple(sorted(lead_hashes(lead).items(), key=lambda kv: meta_audiences.SCHEMA.index(kv[0])))
        for lead in Lead.objects.all()
    }
    return graph.members[destination.remote_audience_id] == expected


def adds(graph):
    return [r for r in graph.requests if r["method"] == "POST" and r["path"].endswith("/users")]


def test_a_worker_killed_mid_sync_is_taken_over_with_no_gap_and_no_duplicate(settings, graph, destination):
    graph.answer_delay = 1.5  # each batch is applied at Meta, then answered late
    app = celery_worker.client()
    first = start_worker(settings, graph)
    try:
        app.send_task("audiences.sync", kwargs={"destination_pk": destination.pk})
        # The first batch is recorded and the second is at Meta, its answer not back yet.
        assert celery_worker.wait_for(
            lambda: len(adds(graph)) >= 2 and SyncLedger.objects.filter(destination=destination).exists()
        )
    finally:
        celery_worker.worker_kill(first)
    held_before = SyncLedger.objects.filter(destination=destination).count()
    assert 0 < held_before < MEMBERS  # it died with part of the audience sent
    graph.answer_delay = 0.0

    second = start_worker(settings, graph)
    try:
        time.sleep(8.5)  # the dead run's lock lapses (AUDIENCE_SYNC_LOCK_SECONDS=8 here)
        app.send_task("audiences.sync_due")  # as beat does every minute
        assert celery_worker.wait_for(
            lambda: SyncRun.objects.filter(destination=destination, status="succeeded").exists()
        )
    finally:
        celery_worker.worker_stop(second)

    assert held_exactly(graph, destination)  # no gap
    ledger = SyncLedger.objects.filter(destination=destination)
    assert ledger.count() == ledger.filter(state="added").count() == MEMBERS  # each member once
    sent = sum(len(json.loads(r["params"]["payload"])["data"]) for r in adds(graph))
    assert MEMBERS <= sent <= MEMBERS + 10_000  # at most the batch in flight at the kill was sent again
    interrupted = SyncRun.objects.get(destination=destination, status="failed")
    assert "Interrupted" in interrupted.error


def test_throttling_is_backed_off_by_the_worker_and_the_sync_completes(settings, graph, destination):
    graph.fail_next(17, subcode=2446079)
    graph.fail_next(80003, transient=True)
    app = celery_worker.client()
    worker = start_worker(settings, graph)
    try:
        app.send_task("audiences.sync", kwargs={"destination_pk": destination.pk})
        assert celery_worker.wait_for(
            lambda: SyncRun.objects.filter(destination=destination).exclude(status="running").exists()
        )
    finally:
        celery_worker.worker_stop(worker)

    run = SyncRun.objects.get(destination=destination)
    assert run.status == "succeeded", run.error
    assert run.retries == 2
    assert held_exactly(graph, destination)


def test_a_database_restart_mid_sync_is_retried_with_no_gap_and_no_duplicate(settings, graph, destination):
    """PostgreSQL goes away mid-sync (a proxy the test cuts) and comes back: the task retries by itself, the dead
    run is closed, and the next one sends what the ledger does not hold."""
    proxy = TcpProxy(connection.settings_dict["HOST"] or "127.0.0.1", int(connection.settings_dict["PORT"] or 5432))
    db = connection.settings_dict
    graph.answer_delay = 1.0
    worker = celery_worker.worker_start(
        settings,
        loglevel="info",
        META_GRAPH_URL=graph.url,
        AUDIENCE_SYNC_LOCK_SECONDS="8",
        DATABASE_URL=f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}",
        DATABASE_CONN_MAX_AGE="600",
    )
    app = celery_worker.client()
    try:
        app.send_task("audiences.sync", kwargs={"destination_pk": destination.pk})
        assert celery_worker.wait_for(lambda: len(adds(graph)) >= 2)  # the second batch is at Meta
        proxy.cut()
        time.sleep(3)
        proxy.restore()
        graph.answer_delay = 0.0
        assert celery_worker.wait_for(
            lambda: SyncRun.objects.filter(destination=destination, status="succeeded").exists(), seconds=90
        )
    finally:
        output = celery_worker.worker_stop(worker)
        proxy.stop()

    assert held_exactly(graph, destination)  # no gap
    ledger = SyncLedger.objects.filter(destination=destination)
    assert ledger.count() == ledger.filter(state="added").count() == MEMBERS  # each member once
    assert not SyncRun.objects.filter(destination=destination, status="running").exists()
    assert "lost the database" in SyncRun.objects.get(destination=destination, status="failed").error
    assert "Retry in" in output  # retried by the task itself, not left for the schedule
    assert TOKEN not in output
