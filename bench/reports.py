"""Reports at scale on PostgreSQL: a 5-step funnel with 1M visitors, 10M events and 2M orders.

    python -m bench.reports [--visitors 1000000] [--orders 2000000]

Generates the data once (SQL, in chunks, with a progress bar) into its own database and rebuilds the rollups, then
measures, in the same run:

* the funnel report (with its previous period) for the standard ranges — the last 7/30/90 days, this month, last
  month — p95 of repeated calls, and for random custom ranges; each against the naive SQL over the raw events and
  orders for the same range, whose results must be identical (distinct visitors are exact);
* the cohort and RFM reports;
* rollup maintenance: new events (page views, opt-ins, purchases of new orders, refunds) folded by the same code
  the Celery task runs, in events a second.

The last lines are JSON objects (name, measured, baseline, ratio, target, passed), as `make bench` expects.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from typing import Any

from bench._reports_data import funnel_ids, generate
from bench.audiences import setup_django

DB = os.environ.get("BENCH_REPORTS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ladder_bench_reports")
REPEATS = 15


# --- the naive SQL over the raw rows ---------------------------------------------------------------------------------


def naive_report(funnel: Any, since: dt.date, until: dt.date) -> dict[str, Any]:
    """The funnel report's counts and money straight from the events and orders (docs/metrics.md)."""
    from django.conf import settings
    from django.db import connection

    tz = settings.TIME_ZONE
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT e.step_id,
                      count(DISTINCT e.visitor_id) FILTER (WHERE e.type = 'page_view'),
                      count(DISTINCT e.visitor_id) FILTER (WHERE e.type = c.type)
               FROM leads_event e JOIN funnels_step s ON s.id = e.step_id
               LEFT JOIN (VALUES ('optin', 'optin'), ('order_form', 'purchase'), ('upsell', 'upsell_accepted'),
                                 ('downsell', 'upsell_accepted')) AS c(kind, type) ON c.kind = s.kind
               WHERE e.funnel_id = %s AND e.visitor_id IS NOT NULL
                 AND (e.occurred_at AT TIME ZONE %s)::date >= %s AND (e.occurred_at AT TIME ZONE %s)::date < %s
               GROUP BY e.step_id""",
            [funnel.pk, tz, since, tz, until],
        )
        steps = {row[0]: {"visitors": row[1], "conversions": row[2]} for row in cursor.fetchall()}
        cursor.execute(
            """SELECT count(*), COALESCE(sum(total_minor), 0), COALESCE(sum(refunded_minor + chargeback_minor), 0)
               FROM offers_order WHERE funnel_id = %s AND paid_at IS NOT NULL
                 AND (paid_at AT TIME ZONE %s)::date >= %s AND (paid_at AT TIME ZONE %s)::date < %s""",
            [funnel.pk, tz, since, tz, until],
        )
        orders, gross, refunds = cursor.fetchone()
    return {"steps": steps, "orders": orders, "gross": int(gross), "refunds": int(refunds)}


_PURCHASES = """
    WITH purchase AS (
        SELECT lead_id, (paid_at AT TIME ZONE %s)::date AS day, total_minor - refunded_minor - chargeback_minor AS net
        FROM offers_order
        WHERE paid_at IS NOT NULL AND currency = 'USD' AND status IN ('paid', 'partially_refunded', 'refunded')
          AND total_minor - refunded_minor - chargeback_minor > 0
    )"""


def naive_cohorts(since: dt.date) -> dict[str, int]:
    """Cohort sizes (first purchase month) straight from the orders."""
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            _PURCHASES
            + """, firsts AS (SELECT lead_id, min(day) AS first FROM purchase GROUP BY lead_id)
            SELECT to_char(date_trunc('month', first), 'YYYY-MM'), count(*) FROM firsts
            WHERE first >= %s GROUP BY 1""",
            [settings.TIME_ZONE, since.replace(day=1)],
        )
        return dict(cursor.fetchall())


def naive_rfm(as_of: dt.date) -> dict[str, int]:
    """Buyers per R and F score, ranked over every buyer's purchases in SQL (docs/metrics.md's scores)."""
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            _PURCHASES
            + """, buyers AS (SELECT lead_id, %s - max(day) AS recency, count(*) AS orders, sum(net) AS net
                            FROM purchase GROUP BY lead_id),
            ranked AS (SELECT count(*) OVER () AS n,
                              rank() OVER (ORDER BY recency DESC) - 1 AS r_worse,
                              rank() OVER (ORDER BY orders) - 1 AS f_worse FROM buyers)
            SELECT 'R' || (1 + 5 * r_worse / n) || 'F' || (1 + 5 * f_worse / n), count(*) FROM ranked GROUP BY 1""",
            [settings.TIME_ZONE, as_of],
        )
        return dict(cursor.fetchall())


def rollup_view(report: Any, funnel: Any) -> dict[str, Any]:
    by_slug = {s.slug: s.pk for s in funnel.steps.all()}
    steps = {
        by_slug[row.step]: {"visitors": row.visitors, "conversions": row.conversions}
        for row in report.steps
        if row.visitors or row.conversions
    }
    totals = report.totals
    return {"steps": steps, "orders": totals.orders, "gross": totals.gross_minor, "refunds": totals.refunds_minor}


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(int(round(0.95 * len(ordered))) - 1, 0)]


def timed(call: Any, repeats: int) -> tuple[list[float], Any]:
    samples, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        samples.append(time.perf_counter() - started)
    return samples, result


def figure(name: str, measured: float, baseline: float | None, target: str, passed: bool) -> dict[str, Any]:
    return {
        "name": name,
        "measured": round(measured, 4),
        "baseline": round(baseline, 4) if baseline is not None else None,
        "ratio": round(baseline / measured, 1) if baseline else None,
        "target": target,
        "passed": passed,
    }


def maintenance(funnel: Any, events: int) -> tuple[int, float]:
    """Append ``events`` new events like live traffic (page views and opt-ins, the events after an opt-in naming the
    lead, and purchases of new orders) and fold them as the Celery task does; returns (events folded, seconds)."""
    from django.db import connection

    from analytics import services

    ids = funnel_ids(funnel)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(max(id), 0) FROM offers_order")
        order_base = cursor.fetchone()[0]
        tag = int(time.time())
        # New visitors: 4 page views and an opt-in each (5 events); every tenth visitor buys (order, 2 purchases).
        new_visitors = events // 6
        # From its opt-in on, each visitor is a known lead (an existing one, with its orders), as the capture makes
        # it: every later event names the lead, and the maintenance re-derives that lead's facts.
        cursor.execute("SELECT min(id), count(*) FROM leads_lead")
        first_lead, lead_count = cursor.fetchone()
        cursor.execute(
            """INSERT INTO leads_event (type, name, lead_id, visitor_id, funnel_id, step_id, variant_id, occurred_at,
                                        recorded_at, properties, idempotency_key)
            SELECT t.type, '', CASE WHEN t.n >= 3 THEN %s + (g * 7919) %% %s END, md5('live' || %s || g)::uuid, %s,
                   t.step, CASE WHEN t.step = %s THEN %s END, now() - (g %% 3600 || ' seconds')::interval, now(),
                   '{}', 'live:' || %s || ':' || g || ':' || t.n
            FROM generate_series(1, %s) AS g
            CROSS JOIN (VALUES (1, 'page_view', %s), (2, 'page_view', %s), (3, 'optin', %s), (4, 'page_view', %s),
                               (5, 'page_view', %s), (6, 'page_view', %s)) AS t(n, type, step)""",
            [first_lead, lead_count, tag, ids["funnel"], ids["order"], ids["variant_a"], tag, new_visitors,
             ids["optin"], ids["optin"], ids["optin"], ids["order"], ids["order"], ids["upsell"]],
        )  # fmt: skip
        cursor.execute("SELECT id FROM leads_lead ORDER BY id LIMIT %s", [max(new_visitors // 10, 1)])
        leads = [row[0] for row in cursor.fetchall()]
    from funnels.models import Step
    from leads.models import Lead
    from offers.models import Payment
    from offers.orders import order_create
    from offers.payments import PageOrigin, payment_succeeded

    order_step = Step.objects.get(pk=ids["order"])
    offers = [offer for offer in (order_step.offer, order_step.bump_offer) if offer is not None]
    now = dt.datetime.now(dt.UTC)
    for index, lead in enumerate(Lead.objects.filter(pk__in=leads)):
        order = order_create(lead=lead, offers=offers, funnel_id=funnel.pk)
        payment = Payment.objects.create(
            order=order, amount_minor=order.total_minor, currency="USD", status="pending", created_at=now,
            **PageOrigin(visitor_id=None, step_id=order_step.pk, variant_id=ids["variant_a"]).as_fields(),
        )  # fmt: skip
        order.lines.update(payment=payment)
        payment_succeeded(payment=payment, intent_id=f"pi_live_{tag}_{index}", amount_minor=order.total_minor)
    del order_base
    started = time.perf_counter()
    folded = services.rollups_catch_up()
    return folded, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--visitors", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=2_000_000)
    parser.add_argument("--live-events", type=int, default=60_000)
    args = parser.parse_args()
    setup_django(DB)
    from django.db import connection

    from analytics import reports, services
    from analytics.models import RollupCursor
    from bench.harness import report as write_report
    from funnels.models import Funnel
    from leads.models import Event

    generate(args.visitors, args.orders)
    funnel = Funnel.objects.get(slug="bench")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM leads_event")
        total_events = cursor.fetchone()[0]
    cursor_row = RollupCursor.objects.filter(name="events").first()
    if cursor_row is None or cursor_row.position < Event.objects.order_by("-pk").values_list("pk", flat=True)[0]:
        started = time.perf_counter()
        services.rollups_rebuild()
        print(f"rollups rebuilt from {total_events:,} events in {time.perf_counter() - started:.1f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"{total_events:,} events", flush=True)

    results: list[dict[str, Any]] = []
    rng = random.Random(7)
    from django.utils import timezone

    today = timezone.localdate()
    ranges = {f"funnel_{name}": period for name, period in reports.standard_periods(today).items()}
    for n in range(3):
        start = today - dt.timedelta(days=rng.randrange(20, 390))
        ranges[f"funnel_custom_{n + 1}"] = reports.Period(start, start + dt.timedelta(days=rng.randrange(2, 200)))
    for name, period in ranges.items():
        samples, report = timed(lambda p=period: reports.funnel_report(funnel=funnel, period=p), REPEATS)
        started = time.perf_counter()
        naive = naive_report(funnel, period.since, period.until)
        naive_seconds = time.perf_counter() - started
        same = naive == rollup_view(report, funnel)
        measured = p95(samples)
        limit = 0.25 if "custom" not in name else 1.0
        results.append(
            figure(
                name,
                measured,
                naive_seconds,
                f"p95<={limit}s, >=20x naive, identical",
                measured <= limit and naive_seconds / measured >= 20 and same,
            )
        )
        print(f"{name}: {period.since}..{period.until} p95 {measured * 1000:.1f} ms, naive {naive_seconds:.2f} s, "
              f"identical {same}", flush=True)  # fmt: skip
    # Any custom range: 30 random ones, the slowest of them.
    customs = []
    for _ in range(30):
        start = today - dt.timedelta(days=rng.randrange(1, 400))
        period = reports.Period(
            start, min(start + dt.timedelta(days=rng.randrange(1, 400)), today + dt.timedelta(days=1))
        )
        customs.extend(timed(lambda p=period: reports.funnel_report(funnel=funnel, period=p), 1)[0])
    results.append(figure("funnel_any_range_max", max(customs), None, "<=1s", max(customs) <= 1.0))

    year = reports.Period(today - dt.timedelta(days=365), today + dt.timedelta(days=1))
    samples, cohorts = timed(lambda: reports.cohorts_report(period=year, currency="USD"), REPEATS)
    started = time.perf_counter()
    naive = naive_cohorts(year.since)
    naive_seconds = time.perf_counter() - started
    same = naive == {row.cohort: row.buyers for row in cohorts}
    measured = p95(samples)
    results.append(
        figure(
            "cohorts_12_months",
            measured,
            naive_seconds,
            "p95<=0.5s, identical",
            measured <= 0.5 and same,
        )
    )
    print(f"cohorts: p95 {measured * 1000:.1f} ms, naive {naive_seconds:.2f} s, identical {same}", flush=True)
    samples, rfm = timed(lambda: reports.rfm_report(currency="USD"), REPEATS)
    started = time.perf_counter()
    naive = naive_rfm(rfm.as_of)
    naive_seconds = time.perf_counter() - started
    same = naive == rfm.grid
    measured = p95(samples)
    results.append(figure("rfm", measured, naive_seconds, "p95<=0.5s, identical", measured <= 0.5 and same))
    print(
        f"RFM over {rfm.buyers:,} buyers: p95 {measured * 1000:.1f} ms, naive {naive_seconds:.2f} s, identical {same}"
    )

    # Everything the Reports dashboard reads for the last 30 days (all funnels, offers, channels, cohorts, RFM).
    def dashboard() -> None:
        period = reports.standard_periods(today)["last_30_days"]
        reports.overview(period=period, currency="USD")
        reports.overview(period=period.previous(), currency="USD")
        reports.revenue_per_day(period=period, currency="USD")
        reports.leads_per_day(period=period)
        for each in Funnel.objects.all():
            reports.funnel_report(funnel=each, period=period)
        reports.offers_report(period=period)
        reports.channels_report(period=period)
        reports.cohorts_report(period=year, currency="USD")
        reports.rfm_report(currency="USD")

    samples, _ = timed(dashboard, REPEATS)
    results.append(figure("dashboard_last_30_days_p95", p95(samples), None, "<=1s", p95(samples) <= 1.0))
    print(f"dashboard: p95 {p95(samples) * 1000:.1f} ms", flush=True)

    folded, seconds = maintenance(funnel, args.live_events)
    rate = folded / seconds if seconds else 0.0
    results.append(figure("rollup_maintenance_events_per_s", rate, None, ">=5000/s", rate >= 5000))
    print(f"maintenance: {folded:,} events in {seconds:.2f} s", flush=True)
    write_report(results, "reports")
    if not all(r["passed"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
