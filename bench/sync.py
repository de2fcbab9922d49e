"""Audience sync at scale: 1M members to the loopback Meta Graph API through a real Celery worker, then a delta.

    python -m bench.sync [--members 1000000] [--delta-adds 25000] [--delta-removes 2000]

Generates the members once into its own database (leads with ad-audience consent, one audience of them all). Each run
then creates a fresh Meta destination, starts a Celery worker (Redis broker) pointed at the Graph API stand-in running
in this process (tests/fakes/meta_graph.py, which refuses more than 10,000 rows a request), and measures:

* initial: from queuing ``audiences.sync`` until the run is recorded as succeeded, every member hashed, sent and held
  by the stand-in; users/s end to end, the Celery tasks the worker ran, and the rows in the largest request;
* delta: ``--delta-adds`` people join and ``--delta-removes`` withdraw their consent; the next sync's requests,
  against ⌈Δ/10,000⌉ + 1 for the additions (removals go 100 to a request: the SDK sends a DELETE's rows in the URL).

The last lines are JSON objects (name, measured, baseline, ratio, target, passed), as `make bench` expects.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import time
from typing import Any

from bench.audiences import _bar, leads_insert, setup_django

DB = os.environ.get("BENCH_SYNC_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ladder_bench_sync")
BROKER = os.environ.get("BENCH_SYNC_BROKER_URL", "redis://127.0.0.1:6379/12")
TOKEN = "EAAB-bench-" + "b" * 30
CHUNK = 50_000


def generate(members: int) -> None:
    """``members`` consented leads, and the audience of them all."""
    from django.db import connection

    from audiences.models import Audience
    from audiences.services import audience_refresh
    from leads.models import Consent, Lead

    # What an earlier run's delta changed goes first: every run measures the same audience.
    Consent.objects.filter(source="bench", status="withdrawn").delete()
    cutoff = Lead.objects.order_by("pk").values_list("pk", flat=True)[members - 1 : members].first()
    if cutoff is not None:
        Lead.objects.filter(pk__gt=cutoff).delete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM leads_lead")
        have = cursor.fetchone()[0]
        started = time.monotonic()
        for first in range(have + 1, members + 1, CHUNK):
            last = min(first + CHUNK - 1, members)
            leads_insert(cursor, first, last)
            cursor.execute(
                """
                INSERT INTO leads_consent (lead_id, purpose, status, wording, source, legal_basis, eea, occurred_at)
                SELECT id, 'ad_audiences', 'granted', 'Show me ads.', 'bench', 'consent', false, created_at
                FROM leads_lead WHERE id > (SELECT coalesce(max(lead_id), 0) FROM leads_consent)
                """
            )
            _bar("members", last, members, started)
        cursor.execute("VACUUM ANALYZE")
    audience, _ = Audience.objects.get_or_create(
        slug="bench-sync", defaults={"name": "Bench sync", "rule": {"lead": {"consent": "ad_audiences"}}}
    )
    refreshed = audience_refresh(audience=audience)
    print(f"audience: {refreshed.size if refreshed else 0:,} members", flush=True)


def worker(graph_url: str) -> subprocess.Popen[bytes]:
    """The integration tests' Celery worker, logging each task it runs (they are counted), on this run's broker."""
    from django.conf import settings

    from tests.celery_worker import worker_start

    return worker_start(
        settings,
        loglevel="info",
        REDIS_URL=os.environ.get("BENCH_SYNC_REDIS_URL", "redis://127.0.0.1:6379/11"),
        CELERY_BROKER_URL=BROKER,
        META_GRAPH_URL=graph_url,
        LOG_LEVEL="WARNING",
    )


def synced(destination_pk: int, after: int, timeout: float = 1800.0) -> Any:
    from audiences.models import SyncRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = SyncRun.objects.filter(destination_id=destination_pk, pk__gt=after).exclude(status="running").first()
        if run is not None:
            return run
        time.sleep(0.05)
    raise SystemExit("The sync did not finish in time.")


def measure(members: int, delta_adds: int, delta_removes: int) -> list[dict[str, object]]:
    import json

    from celery import Celery
    from django.db import connection
    from django.utils import timezone

    from audiences.models import Audience, Connection, Destination
    from audiences.services import audience_refresh
    from integrations.meta import audiences as meta_audiences
    from leads.models import Consent, Lead
    from tests.fakes.meta_graph import MetaGraphFake

    graph = MetaGraphFake(access_token=TOKEN)
    audience = Audience.objects.get(slug="bench-sync")
    Destination.objects.filter(audience=audience).delete()  # each run starts from an empty ledger
    remote = meta_audiences.audience_create(
        access_token=TOKEN, ad_account_id="1234567890", name="Bench", graph_url=graph.url
    )
    account = Connection.objects.create(
        name="Bench Meta", platform="meta", account_id="act_1234567890", credentials=TOKEN
    )
    destination = Destination.objects.create(
        audience=audience, name="Bench Meta", connection=account, remote_audience_id=remote
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE audiences_syncledger")
    app = Celery(broker=BROKER, set_as_current=False)
    process = worker(graph.url)
    try:
        time.sleep(8)  # the worker is up and consuming before the clock starts
        started = time.monotonic()
        app.send_task("audiences.sync", kwargs={"destination_pk": destination.pk})
        run = synced(destination.pk, after=0)
        initial = time.monotonic() - started
        adds = [r for r in graph.requests if r["method"] == "POST" and r["path"].endswith("/users")]
        largest = max(len(json.loads(r["params"]["payload"])["data"]) for r in adds)
        held = len(graph.members[remote])
        print(f"initial: {run.sent:,} sent, {held:,} held at the stand-in, {len(adds)} requests, {initial:.1f} s")
        if run.status != "succeeded" or held != members:
            raise SystemExit(f"The initial sync did not complete: {run.status} {run.error} ({held:,} held)")

        # The delta: new members join, some withdraw their consent.
        before = len(graph.requests)
        with connection.cursor() as cursor:
            cursor.execute("SELECT max(id) FROM leads_lead")
            top = cursor.fetchone()[0]
            leads_insert(cursor, top + 1, top + delta_adds)
        now = timezone.now()
        joining = Lead.objects.filter(pk__gt=top)
        Consent.objects.bulk_create(
            [
                Consent(
                    lead=lead, purpose="ad_audiences", status="granted", wording="Ads.", source="bench", occurred_at=now
                )
                for lead in joining
            ]
        )
        leaving = list(Lead.objects.filter(pk__lte=top).order_by("?").values_list("pk", flat=True)[:delta_removes])
        Consent.objects.bulk_create(
            [
                Consent(
                    lead_id=pk,
                    purpose="ad_audiences",
                    status="withdrawn",
                    wording="Ads.",
                    source="bench",
                    occurred_at=now,
                )
                for pk in leaving
            ]
        )
        audience_refresh(audience=audience)
        started = time.monotonic()
        app.send_task("audiences.sync", kwargs={"destination_pk": destination.pk})
        delta_run = synced(destination.pk, after=run.pk)
        delta = time.monotonic() - started
        requests = graph.requests[before:]
        add_requests = sum(1 for r in requests if r["method"] == "POST")
        remove_requests = sum(1 for r in requests if r["method"] == "DELETE")
        held = len(graph.members[remote])
        print(
            f"delta: +{delta_adds:,} −{delta_removes:,}: {add_requests} add and {remove_requests} removal requests, "
            f"{delta:.1f} s; {held:,} held"
        )
        if delta_run.status != "succeeded" or held != members + delta_adds - delta_removes:
            raise SystemExit(f"The delta sync did not complete: {delta_run.status} {delta_run.error} ({held:,})")
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=60)
        graph.stop()
    tasks = len(re.findall(rb"Task \S+ succeeded", output))
    if b"Traceback" in output:
        raise SystemExit(output.decode()[-3000:])
    rate = members / initial
    bound = math.ceil(delta_adds / 10_000) + 1
    removal_bound = math.ceil(delta_removes / meta_audiences.REMOVE_BATCH) + 1
    scale = f"{members:,} members"
    return [
        {"name": "sync_initial_users_per_s", "measured": round(rate), "baseline": None, "ratio": None,
         "target": ">= 50000", "passed": rate >= 50_000, "scale": scale, "seconds": round(initial, 1)},
        {"name": "sync_initial_celery_tasks", "measured": tasks, "baseline": None, "ratio": None,
         "target": "<= 300", "passed": tasks <= 300, "scale": scale},
        {"name": "sync_largest_request_rows", "measured": largest, "baseline": None, "ratio": None,
         "target": "<= 10000", "passed": largest <= 10_000, "scale": scale},
        {"name": "sync_delta_add_requests", "measured": add_requests, "baseline": bound, "ratio": None,
         "target": f"<= ceil({delta_adds}/10000)+1 = {bound}", "passed": add_requests <= bound, "scale": scale},
        {"name": "sync_delta_remove_requests", "measured": remove_requests, "baseline": removal_bound, "ratio": None,
         "target": f"<= ceil({delta_removes}/100)+1 = {removal_bound}", "passed": remove_requests <= removal_bound,
         "scale": scale},
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--delta-adds", type=int, default=25_000)
    parser.add_argument("--delta-removes", type=int, default=2_000)
    args = parser.parse_args()
    setup_django(DB)
    generate(args.members)
    from bench.harness import report

    report(measure(args.members, args.delta_adds, args.delta_removes), "sync")


if __name__ == "__main__":
    main()
