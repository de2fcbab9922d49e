"""Audience engine at scale: evaluate, diff, hash and batch one audience over a large lead base on PostgreSQL.

    python -m bench.audiences [--leads 1000000] [--events-per-lead 10]

Generates the data once (SQL, in chunks, with a progress bar) into its own database, then measures, for the
rule "opted in within 30 days, no tripwire purchase within 7 days":

* full: the stored-membership rebuild (one DELETE, one INSERT … SELECT) plus the diff against an empty ledger,
  normalizing and hashing every eligible member and building 10,000-row payloads (streamed, server-side cursor);
  the median of three passes, each from an empty membership;
* naive: the same membership decided by a per-lead ORM loop on a 10,000-lead slice, scaled to the whole base;
* churn: 1 % of the leads buy the tripwire; the live refresh of those marked leads;
* memory: the process's peak resident set.

The last lines are JSON objects (name, measured, baseline, ratio, target, passed), as `make bench` expects.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DB = os.environ.get("BENCH_AUDIENCES_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ladder_bench_audiences")
RULE = {
    "all": [
        {"event": {"type": "optin", "within_days": 30}},
        {"not": {"purchase": {"role": "tripwire", "within_days": 7}}},
    ]
}
CHUNK = 50_000
ROUNDS = 3
# People differ: 60 first names, 27,000 last names, 900 cities, 40,000 postal codes, states written either way.
FIRST_NAMES = (
    "Ann Bo Carl Dana Eve Finn Gus Hana Ivo Jana Kai Lena Milo Nora Otto Pia Quinn Rosa Sam Tess Uma Vic Wes Xena "
    "Yuri Zoe Amélie Björn Chloé Dmitri Elif Farah Goran Hugo Inès José Kenji Lars Maëlle Nadia Olga Pedro Rania "
    "Sören Tomás Ursula Vera William Ximena Yasmin Zoltan Aiko Bruno Carmen Diego Emma Fatima Giulia Hiro Irene"
).split()
SYLLABLES = (
    "ba ko ri sa me lu na to vi de ga po shi ren mor tal ven dor kel ash bri cor dan el fal gor han is jor kar"
).split()
STATES = ["CA", "NY", "TX", "California", "Florida", "WA", "new york", "IL"]


def setup_django(db: str = DB) -> None:
    """Django on its own benchmark database (created and migrated when missing)."""
    sys.path.insert(0, str(ROOT))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        SECRET_KEY="bench-" + "k" * 60,
        FIELD_ENCRYPTION_KEY="mJf2q5n8m3xQ0G7s9wS0a1b2c3d4e5f6g7h8i9j0k1Y=",
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=db,
        LOG_LEVEL="WARNING",
    )
    import psycopg

    name = db.rsplit("/", 1)[1]
    with psycopg.connect(db.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", "--noinput", verbosity=0)


def _bar(label: str, done: int, total: int, started: float) -> None:
    width = 30
    filled = width * done // max(total, 1)
    rate = done / max(time.monotonic() - started, 1e-9)
    print(f"\r{label:<10} [{'#' * filled}{'.' * (width - filled)}] {done:>9,}/{total:,} {rate:,.0f}/s", end="")
    print() if done >= total else sys.stdout.flush()


def paid_order_sql(public_id: str, lead_id: str, at: str) -> tuple[str, str]:
    """A paid $7 tripwire order's columns and values, every other column as the model defaults it."""
    from bench.rows import insert_sql
    from offers.models import Order

    return insert_sql(
        Order,
        {
            "public_id": public_id,
            "lead_id": lead_id,
            "status": "'paid'",
            "currency": "'USD'",
            "subtotal_minor": "700",
            "total_minor": "700",
            "stripe_customer_id": "''",
            "created_at": at,
            "paid_at": at,
        },
    )


def tripwire_line_sql(order_id: str, offer_id: str, at: str) -> tuple[str, str]:
    from bench.rows import insert_sql
    from offers.models import OrderLine

    return insert_sql(
        OrderLine,
        {
            "order_id": order_id,
            "offer_id": offer_id,
            "role": "'tripwire'",
            "description": "'Tripwire'",
            "amount_minor": "700",
            "currency": "'USD'",
            "created_at": at,
        },
    )


def leads_insert(cursor: Any, first: int, last: int) -> None:
    """Leads ``bench<first>@example.com`` … ``bench<last>@example.com``: varied names, places, some phones."""
    cursor.execute(
        """
        INSERT INTO leads_lead (public_id, email, phone, first_name, last_name, country, region, city,
                                postal_code, score_base, created_at, updated_at)
        SELECT md5('lead' || g)::uuid, 'bench' || g || '@example.com',
               CASE WHEN g %% 3 = 0 THEN '+1415' || lpad((g %% 10000000)::text, 7, '0') ELSE '' END,
               (%s::text[])[1 + g %% 60],
               initcap((%s::text[])[1 + g %% 30] || (%s::text[])[1 + (g / 30) %% 30]
                       || (%s::text[])[1 + (g / 900) %% 30]),
               'US', (%s::text[])[1 + g %% 8],
               initcap((%s::text[])[1 + (g / 7) %% 30] || (%s::text[])[1 + (g / 11) %% 30]) || ' Park',
               lpad((g %% 40000)::text, 5, '0'), g %% 50,
               now() - ((g %% 90) || ' days')::interval, now()
        FROM generate_series(%s, %s) AS g
        """,
        [FIRST_NAMES, SYLLABLES, SYLLABLES, SYLLABLES, STATES, SYLLABLES, SYLLABLES, first, last],
    )


def generate(leads: int, per_lead: int) -> None:
    from django.db import connection

    from offers.models import Offer, Product

    product, _ = Product.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    tripwire, _ = Offer.objects.get_or_create(
        slug="bench-tripwire",
        defaults={"product": product, "name": "Tripwire", "role": "tripwire", "amount_minor": 700},
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM leads_lead")
        have = cursor.fetchone()[0]
        if have >= leads:
            print(f"data present: {have:,} leads")
            return
        started = time.monotonic()
        for first in range(have + 1, leads + 1, CHUNK):
            last = min(first + CHUNK - 1, leads)
            leads_insert(cursor, first, last)
            cursor.execute("SELECT min(id), max(id) FROM leads_lead WHERE email LIKE %s", ["bench%"])
            low, high = cursor.fetchone()
            ids = "id BETWEEN %s AND %s AND email LIKE 'bench%%'"
            # One opt-in per lead within 60 days, the rest page views and checkouts.
            cursor.execute(
                f"""
                INSERT INTO leads_event (type, name, lead_id, funnel_id, occurred_at, recorded_at, properties,
                                         idempotency_key)
                SELECT CASE WHEN k = 1 THEN 'optin' WHEN k %% 4 = 0 THEN 'checkout_started' ELSE 'page_view' END,
                       '', l.id, 1, now() - (((l.id * 7 + k * 13) %% 60) || ' days')::interval, now(), '{{}}',
                       'bench:' || l.id || ':' || k
                FROM leads_lead l CROSS JOIN generate_series(1, %s) AS k
                WHERE l.{ids} AND l.id >= (SELECT max(id) - %s + 1 FROM leads_lead)
                """,  # noqa: S608 (constants and bound parameters only)
                [per_lead, low, high, last - first + 1],
            )
            # A quarter buy the tripwire, at a time spread over 30 days; 80 % consent to ad audiences.
            order_columns, order_values = paid_order_sql("md5('order' || id)::uuid", "id", "at")
            line_columns, line_values = tripwire_line_sql("id", "%s", "created_at")
            cursor.execute(
                f"""
                WITH buyers AS (
                    SELECT id, now() - ((id %% 30) || ' days')::interval AS at FROM leads_lead
                    WHERE {ids} AND id %% 4 = 0 AND id >= (SELECT max(id) - %s + 1 FROM leads_lead)
                ), orders AS (
                    INSERT INTO offers_order ({order_columns}) SELECT {order_values} FROM buyers
                    RETURNING id, created_at
                )
                INSERT INTO offers_orderline ({line_columns}) SELECT {line_values} FROM orders
                """,  # noqa: S608
                [low, high, last - first + 1, tripwire.pk],
            )
            cursor.execute(
                f"""
                INSERT INTO leads_consent (lead_id, purpose, status, wording, source, legal_basis, eea, occurred_at)
                SELECT id, 'ad_audiences', 'granted', 'Show me ads.', 'bench', 'consent', false, created_at
                FROM leads_lead WHERE {ids} AND id %% 5 <> 0 AND id >= (SELECT max(id) - %s + 1 FROM leads_lead)
                """,  # noqa: S608
                [low, high, last - first + 1],
            )
            _bar("leads", last, leads, started)
    # What autovacuum does after a bulk load (it is off on this machine): statistics and the visibility map.
    print("vacuuming …", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def measure(leads: int) -> list[dict[str, object]]:
    import datetime as dt

    from django.db import connection, transaction
    from django.utils import timezone

    from audiences.models import Audience, AudienceMember, Connection, Destination
    from audiences.rules import rule_members
    from audiences.services import audience_refresh, audiences_refresh_marked
    from audiences.sync import chunked, leads_to_add, upload_rows
    from integrations.sandbox.upload import SandboxUploader
    from leads.marks import leads_mark_changed
    from leads.models import Event, Lead, LeadMark
    from offers.models import OrderLine

    audience, _ = Audience.objects.update_or_create(slug="bench", defaults={"name": "Bench", "rule": RULE})
    sandbox, _ = Connection.objects.get_or_create(name="Bench sandbox", platform="sandbox")
    destination, _ = Destination.objects.get_or_create(audience=audience, name="Bench sandbox", connection=sandbox)

    # Every run measures the generated data: the orders an earlier run's churn step made go first.
    with connection.cursor() as cursor:
        churn_orders = "SELECT id FROM offers_order WHERE public_id <> md5('order' || lead_id)::uuid"
        cursor.execute(f"DELETE FROM offers_orderline WHERE order_id IN ({churn_orders})")  # noqa: S608
        cursor.execute(f"DELETE FROM offers_order WHERE id IN ({churn_orders})")  # noqa: S608

    def full_pass() -> tuple[float, float, int, int, int]:
        AudienceMember.objects.filter(audience=audience).delete()
        LeadMark.objects.all().delete()
        # Autovacuum's work between runs (it is off on this machine): earlier runs left dead rows here.
        with connection.cursor() as cursor:
            for table in ("audiences_audiencemember", "leads_leadmark", "offers_order", "offers_orderline"):
                cursor.execute(f"VACUUM ANALYZE {table}")
        started = time.monotonic()
        refreshed = audience_refresh(audience=audience)
        evaluated = time.monotonic() - started
        if refreshed is None:
            raise SystemExit(f"The bench rule does not validate: {audience.rule_error}")
        rows = batches = 0
        for payload in chunked(upload_rows(leads_to_add(destination)), SandboxUploader().batch_size):
            rows, batches = rows + len(payload), batches + 1
        return time.monotonic() - started, evaluated, refreshed.size, rows, batches

    passes = sorted(full_pass() for _ in range(ROUNDS))
    for full, evaluated, size, rows, batches in passes:
        print(f"full: {size:,} members in {evaluated:.2f} s; {rows:,} hashed rows in {batches} payloads; {full:.2f} s")
    full = passes[len(passes) // 2][0]
    print(f"full: median of {ROUNDS}: {full:.2f} s", flush=True)

    # The naive way: decide each lead with its own ORM queries, on a slice, scaled to the base.
    now = timezone.now()
    slice_ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True)[:10_000])
    started = time.monotonic()
    naive_members = 0
    for lead_id in slice_ids:
        opted = Event.objects.filter(lead_id=lead_id, type="optin", occurred_at__gte=now - dt.timedelta(days=30))
        bought = OrderLine.objects.filter(
            order__lead_id=lead_id, order__status="paid", role="tripwire", created_at__gte=now - dt.timedelta(days=7)
        )
        if opted.exists() and not bought.exists():
            naive_members += 1
    naive = (time.monotonic() - started) * leads / len(slice_ids)
    sliced = rule_members(RULE, now=now).filter(pk__in=slice_ids).count()
    if sliced != naive_members:
        raise SystemExit(f"The naive loop and the compiled rule disagree: {naive_members} against {sliced}.")
    print(f"naive: {naive:.1f} s for {leads:,} leads (from a 10,000-lead slice)", flush=True)

    # 1 % churn: that many leads buy the tripwire now; the live refresh takes their marks.
    churned = list(Lead.objects.order_by("?").values_list("pk", flat=True)[: leads // 100])
    with transaction.atomic():
        with connection.cursor() as cursor:
            order_columns, order_values = paid_order_sql("md5('churn' || id || clock_timestamp())::uuid", "id", "now()")
            line_columns, line_values = tripwire_line_sql(
                "o.id", "(SELECT id FROM offers_offer WHERE slug = 'bench-tripwire')", "now()"
            )
            cursor.execute(
                f"""
                WITH o AS (
                    INSERT INTO offers_order ({order_columns}) SELECT {order_values}
                    FROM unnest(%s::bigint[]) AS id RETURNING id
                )
                INSERT INTO offers_orderline ({line_columns}) SELECT {line_values} FROM o
                """,  # noqa: S608 (the models' column lists and constants only)
                [churned],
            )
        leads_mark_changed(lead_ids=churned)
    started = time.monotonic()
    taken = 0
    while batch_ids := audiences_refresh_marked(batch_size=len(churned), settle_seconds=0):
        taken += len(batch_ids)
    churn = time.monotonic() - started
    print(f"churn: {taken:,} changed leads refreshed in {churn:.2f} s", flush=True)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    scale = f"{leads:,} leads"
    return [
        {"name": "audience_full", "measured": round(full, 2), "baseline": None, "ratio": None,
         "target": "<= 10 s", "passed": full <= 10, "scale": scale},
        {"name": "audience_vs_naive", "measured": round(full, 2), "baseline": round(naive, 1),
         "ratio": round(naive / full, 1), "target": ">= 50x", "passed": naive / full >= 50, "scale": scale},
        {"name": "audience_churn_1pct", "measured": round(churn, 2), "baseline": None, "ratio": None,
         "target": "<= 2 s", "passed": churn <= 2, "scale": scale},
        {"name": "audience_peak_memory_mb", "measured": round(peak_mb), "baseline": None, "ratio": None,
         "target": "<= 1024", "passed": peak_mb <= 1024, "scale": scale},
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--events-per-lead", type=int, default=10)
    args = parser.parse_args()
    setup_django()
    generate(args.leads, args.events_per_lead)
    from bench.harness import report

    report(measure(args.leads), "audiences")


if __name__ == "__main__":
    main()
