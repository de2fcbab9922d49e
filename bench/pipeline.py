"""The sales pipeline at scale on PostgreSQL: a million leads in seven stages, five owners, tags, buyers and
predictions.

    python -m bench.pipeline [--leads 1000000] [--csv-leads 100000]

Generates the data once (SQL, in chunks, with a progress bar) into its own database, then measures in the same run:

* the board: column counts and weighted values (and each column's top cards), unfiltered and filtered by owner —
  p95 of repeated calls, against a naive count and sum over every lead in Python, whose results must be identical;
* the first page of a filtered, sorted lead list through the API view (stage + score order, owner + score range,
  tag + search) — p95, against sorting the whole filtered list in Python;
* the lead list as CSV through the API, ``--csv-leads`` leads streamed: rows a second and the process's peak
  memory, against a CSV made from model objects (what a plain admin export does).

The last lines are JSON objects (name, measured, baseline, ratio, target, passed), as `make bench` expects.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc
from collections import defaultdict
from fractions import Fraction
from typing import Any

from bench.audiences import _bar, setup_django

DB = os.environ.get("BENCH_PIPELINE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ladder_bench_pipeline")
CHUNK = 100_000
REPEATS = 20
OWNERS = 5


def generate(leads: int) -> None:
    """Lead g: stage by g mod 20 (most in the early stages), owner 1 + g mod 6 (one in six has none), a score and
    last activity spread by g, tag "vip" for one in ten, a buyer (USD) for one in seven, a prediction for half of
    those."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from analytics.models import ClvFit
    from leads.models import Stage, Tag

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM leads_lead")
        if cursor.fetchone()[0] >= leads:
            print("data present", flush=True)
            return
    users = [
        get_user_model().objects.get_or_create(username=f"seller{n}", defaults={"is_staff": True})[0]
        for n in range(OWNERS)
    ]
    stages = list(Stage.objects.order_by("position").values_list("pk", flat=True))
    vip = Tag.objects.get_or_create(name="vip")[0]
    fit = ClvFit.objects.create(
        currency="USD", fitted_at=timezone.now(), usable=True, horizon_months=12, monthly_discount=0.01
    )
    # Twenty slots: the share of leads per stage, early stages fullest.
    slots = [stages[min(i, len(stages) - 1)] for i in (0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 5, 6, 6)]
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        for first in range(1, leads + 1, CHUNK):
            last = min(first + CHUNK - 1, leads)
            cursor.execute(
                """
                INSERT INTO leads_lead (public_id, email, phone, first_name, last_name, country, region, city,
                                        postal_code, stage_id, owner_id, score_base, last_activity_at, created_at,
                                        updated_at)
                SELECT md5('p' || g)::uuid, 'p' || g || '@example.com', '', 'Ann' || (g %% 97), 'Lee' || (g %% 89),
                       CASE WHEN g %% 3 = 0 THEN 'DE' ELSE 'US' END, '', '', '',
                       (%s::bigint[])[1 + g %% 20],
                       CASE WHEN g %% 6 = 0 THEN NULL ELSE (%s::bigint[])[1 + g %% 5] END,
                       ((g * 7919) %% 1000) * 1.7,
                       now() - (((g * 13) %% 60) || ' days')::interval,
                       now() - (((g * 31) %% 400) || ' days')::interval, now()
                FROM generate_series(%s::bigint, %s::bigint) AS g""",
                [slots, [u.pk for u in users], first, last],
            )
            _bar("leads", last, leads, started)
        cursor.execute(
            "INSERT INTO leads_lead_tags (lead_id, tag_id) SELECT id, %s FROM leads_lead WHERE id %% 10 = 0", [vip.pk]
        )
        cursor.execute(
            """INSERT INTO analytics_buyer (lead_id, currency, first_day, last_day, orders, net_minor)
               SELECT id, 'USD', current_date - 30, current_date - 3, 1 + id %% 3, 700 + (id %% 50) * 100
               FROM leads_lead WHERE id %% 7 = 0""",
            [],
        )
        cursor.execute(
            """INSERT INTO analytics_customervalue (lead_id, currency, fit_id, p_alive, expected_purchases,
                                                    predicted_value_minor, scored_at)
               SELECT id, 'USD', %s, 0.5, 1.2, 500 + (id %% 40) * 50, now() FROM leads_lead WHERE id %% 14 = 0""",
            [fit.pk],
        )
        cursor.execute("VACUUM ANALYZE")  # autovacuum is off on these machines; what it would do, done now


def naive_board(user_id: int | None) -> dict[int | None, tuple[int, dict[str, int]]]:
    """Every lead read into Python, counted and valued per stage, weighted per the stage's probability."""
    from analytics.models import Buyer, CustomerValue
    from leads.models import Lead, Stage

    value: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for model, field in ((Buyer, "net_minor"), (CustomerValue, "predicted_value_minor")):
        for lead_id, currency, minor in model.objects.values_list("lead_id", "currency", field).iterator(10_000):
            value[lead_id].append((currency, minor))
    probability = dict(Stage.objects.values_list("pk", "win_probability"))
    counts: dict[int | None, int] = defaultdict(int)
    sums: dict[int | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    leads = Lead.objects.filter(erased_at__isnull=True)
    if user_id is not None:
        leads = leads.filter(owner_id=user_id)
    for pk, stage in leads.values_list("pk", "stage_id").iterator(chunk_size=20_000):
        counts[stage] += 1
        for currency, minor in value.get(pk, ()):
            sums[stage][currency] += minor
    return {
        stage: (
            counts[stage],
            {c: round(Fraction(t * (probability.get(stage, 0) if stage else 0), 100)) for c, t in sums[stage].items()},
        )
        for stage in counts
    }


def board_view(columns: list[Any]) -> dict[int | None, tuple[int, dict[str, int]]]:
    return {(c.stage.pk if c.stage else None): (c.count, dict(c.weighted)) for c in columns if c.count}


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(int(round(0.95 * len(ordered))) - 1, 0)]


def timed(call: Any, repeats: int = REPEATS) -> tuple[float, Any]:
    samples, result = [], None
    call()  # warm the caches once, as a page in use would be
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        samples.append(time.perf_counter() - started)
    return p95(samples), result


def figure(
    name: str, measured: float, baseline: float | None, target: str, passed: bool, higher: bool = False
) -> dict[str, Any]:
    ratio = None
    if baseline:
        ratio = round(measured / baseline, 1) if higher else round(baseline / measured, 1)
    return {
        "name": name,
        "measured": round(measured, 4),
        "baseline": round(baseline, 4) if baseline is not None else None,
        "ratio": ratio,
        "target": target,
        "passed": passed,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--csv-leads", type=int, default=100_000)
    args = parser.parse_args()
    setup_django(DB)
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIRequestFactory, force_authenticate

    from bench.harness import report as write_report
    from leads.models import Lead, Stage
    from pipeline import selectors
    from pipeline.api.views import LeadList

    generate(args.leads)
    total = Lead.objects.count()
    print(f"{total:,} leads", flush=True)
    results: list[dict[str, Any]] = []
    seller = get_user_model().objects.get(username="seller1")
    # CSV first, before the naive baselines fill this process's memory: the first csv-leads leads (by id) streamed
    # as the API streams them, consumed as a client would; then the same with the Python heap traced (its peak is
    # what streaming holds at once); then a CSV made from model objects, the baseline.
    from pipeline.api.csvout import lead_rows

    bound = Lead.objects.order_by("pk").values_list("pk", flat=True)[args.csv_leads - 1]
    subset = Lead.objects.filter(pk__lte=bound, erased_at__isnull=True)
    started = time.perf_counter()
    written = sum(part.count("\n") for part in lead_rows(subset)) - 1
    seconds = time.perf_counter() - started
    rate = written / seconds
    tracemalloc.start()
    for _ in lead_rows(subset):
        pass
    _, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = peak_bytes / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    naive_lines = 0
    for lead in subset.select_related("stage", "owner").iterator(chunk_size=2000):
        naive_lines += bool([lead.email, lead.first_name, lead.stage and lead.stage.name, lead.owner_id])
    naive_rate = naive_lines / (time.perf_counter() - started)
    complete = written == args.csv_leads
    results.append(figure("csv_rows_per_s", rate, naive_rate, ">=50000", rate >= 50_000 and complete, higher=True))
    results.append(figure("csv_peak_mb", peak, None, "<=200", peak <= 200))
    print(f"csv: {written:,} rows in {seconds:.2f} s ({rate:,.0f}/s; model objects {naive_rate:,.0f}/s), "
          f"peak Python heap while streaming {peak:.1f} MB, process RSS so far {rss:.0f} MB", flush=True)  # fmt: skip

    for name, filters, user in (
        ("board_all", selectors.BoardFilters(), None),
        ("board_owner", selectors.BoardFilters(owner=str(seller.pk)), seller.pk),
    ):
        measured, columns = timed(lambda f=filters: selectors.board(f, user_id=seller.pk))
        started = time.perf_counter()
        naive = naive_board(user)
        naive_seconds = time.perf_counter() - started
        same = naive == board_view(columns)
        results.append(figure(name, measured, naive_seconds, "p95<=0.15s, identical", measured <= 0.15 and same))
        print(f"{name}: p95 {measured * 1000:.1f} ms, naive {naive_seconds:.2f} s, identical {same}", flush=True)

    admin = get_user_model().objects.filter(is_superuser=True).first() or get_user_model().objects.create_superuser(
        "bench-admin", "", None
    )
    factory = APIRequestFactory()
    view = LeadList.as_view()
    stage = Stage.objects.order_by("position").values_list("pk", flat=True)[1]

    def first_page(query: str) -> Any:
        request = factory.get(f"/api/v1/leads?{query}", HTTP_HOST="127.0.0.1")
        force_authenticate(request, user=admin)
        response = view(request)
        if response.status_code != 200:
            raise SystemExit(f"GET /api/v1/leads?{query} answered {response.status_code}: {response.data}")
        return response.data["results"]

    for name, query, naive_filter in (
        ("list_stage_by_score", f"stage={stage}&ordering=-score&limit=50", {"stage_id": stage}),
        ("list_owner_score_range", f"owner={seller.pk}&score_min=100&score_max=400&limit=50", None),
        ("list_tag_search", "tag=vip&q=ann7&ordering=email&limit=50", None),
    ):
        measured, rows = timed(lambda q=query: first_page(q))
        baseline = None
        if naive_filter is not None:
            started = time.perf_counter()
            every = list(Lead.objects.filter(**naive_filter).values_list("public_id", "score_base", "pk"))
            every.sort(key=lambda r: (-r[1], -r[2]))  # the API breaks ties by id, descending with the score
            same = [str(r[0]) for r in every[:50]] == [row["id"] for row in rows]
            baseline = time.perf_counter() - started
        else:
            same = len(rows) == 50
        results.append(figure(name, measured, baseline, "p95<=0.15s", measured <= 0.15 and same))
        print(f"{name}: p95 {measured * 1000:.1f} ms, {len(rows)} rows, checked {same}", flush=True)

    # What keeping the totals costs a writer: a bulk move of the first csv-leads leads (history rows, the update,
    # audience marks) with the triggers, against the same move with triggers off for this session only.
    from django.db import connection, transaction

    from leads.pipeline import leads_stage_move

    second = Stage.objects.order_by("position")[1]
    chunk = Lead.objects.filter(pk__lte=bound)
    timings = {}
    for label, replica in (("with", False), ("without", True)):
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL session_replication_role = {'replica' if replica else 'origin'}")
            started = time.perf_counter()
            moved = leads_stage_move(leads=chunk, to_stage=second, by_id=None, reason="bench")
            timings[label] = time.perf_counter() - started
            transaction.set_rollback(True)  # leave the data as generated
    overhead = timings["with"] / timings["without"]
    results.append(
        figure("bulk_move_s", timings["with"], timings["without"], "<=1.5x without triggers", overhead <= 1.5)
    )
    print(f"bulk move of {moved:,} leads: {timings['with']:.2f} s with the totals kept, "
          f"{timings['without']:.2f} s without ({overhead:.2f}x)", flush=True)  # fmt: skip
    write_report(results, "pipeline")


if __name__ == "__main__":
    main()
