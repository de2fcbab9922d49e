"""The reports benchmark's data: its funnel, and the visitors' events and the orders generated in SQL, in chunks of
``CHUNK``, over ``DAYS`` days of history ending today."""

from __future__ import annotations

import time
from typing import Any

from bench.audiences import _bar

CHUNK = 100_000


DAYS = 400  # the history the data spans, ending today


def funnel_make() -> Any:
    from funnels.models import Funnel, Route, Step, Variant
    from offers.models import Offer, Product

    funnel = Funnel.objects.filter(slug="bench").first()
    if funnel is not None:
        return funnel
    product, _ = Product.objects.get_or_create(slug="bench-product", defaults={"name": "Bench"})

    def offer(slug: str, role: str, amount: int) -> Offer:
        return Offer.objects.get_or_create(
            slug=slug, defaults={"product": product, "name": slug, "role": role, "amount_minor": amount}
        )[0]

    funnel = Funnel.objects.create(name="Bench", slug="bench")
    steps = {
        "optin": Step.objects.create(funnel=funnel, name="Opt-in", slug="optin", kind="optin", position=1,
                                     offer=offer("bench-magnet", "lead_magnet", 0)),
        "order": Step.objects.create(funnel=funnel, name="Order", slug="order", kind="order_form", position=2,
                                     offer=offer("bench-tripwire", "tripwire", 700),
                                     bump_offer=offer("bench-bump", "order_bump", 1700)),
        "upsell": Step.objects.create(funnel=funnel, name="Upsell", slug="upsell", kind="upsell", position=3,
                                      offer=offer("bench-core", "core", 9700)),
        "downsell": Step.objects.create(funnel=funnel, name="Downsell", slug="downsell", kind="downsell",
                                        position=4, offer=offer("bench-downsell", "downsell", 4700)),
        "thanks": Step.objects.create(funnel=funnel, name="Thanks", slug="thanks", kind="thank_you", position=5),
    }  # fmt: skip
    for a, outcome, b in [
        ("optin", "accept", "order"),
        ("order", "accept", "upsell"),
        ("upsell", "accept", "thanks"),
        ("upsell", "decline", "downsell"),
        ("downsell", "accept", "thanks"),
        ("downsell", "decline", "thanks"),
    ]:
        Route.objects.create(funnel=funnel, from_step=steps[a], outcome=outcome, to_step=steps[b])
    for name in ("A", "B"):
        Variant.objects.create(step=steps["order"], name=name, weight=1)
    funnel.entry_step = steps["optin"]
    funnel.status = "live"
    funnel.save()
    return funnel


def funnel_ids(funnel: Any) -> dict[str, int]:
    from funnels.models import Variant

    ids = {s.slug: s.pk for s in funnel.steps.all()}
    ids.update({f"offer_{s.slug}": s.offer_id for s in funnel.steps.all() if s.offer_id})
    ids["bump"] = funnel.steps.get(slug="order").bump_offer_id
    ids["variant_a"], ids["variant_b"] = (
        Variant.objects.filter(step_id=ids["order"]).order_by("id").values_list("pk", flat=True)
    )
    ids["funnel"] = funnel.pk
    return ids


def generate(visitors: int, orders: int) -> None:
    """Visitors g = 1..N: lead g and visitor md5('v'||g); order i belongs to visitor 1 + (i - 1) mod (0.8 N)."""
    from django.db import connection

    funnel = funnel_make()
    ids = funnel_ids(funnel)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM leads_event WHERE funnel_id = %s", [funnel.pk])
        if cursor.fetchone()[0]:
            print("data present")
            return
        cursor.execute("SET synchronous_commit = off")
        buyers = int(visitors * 0.8)
        base = {"lead": 10_000_000, "order": 10_000_000, "payment": 10_000_000, "line": 10_000_000}
        started = time.monotonic()
        # A visitor arrives on day (g * 7919) mod DAYS days ago, at a time of day spread by g.
        arrival = "(now() - (((g * 7919) %% {days}) || ' days')::interval - ((g %% 86400) || ' seconds')::interval)"
        arrival = arrival.format(days=DAYS)
        for first in range(1, visitors + 1, CHUNK):
            last = min(first + CHUNK - 1, visitors)
            cursor.execute(
                f"""INSERT INTO leads_lead (id, public_id, email, phone, first_name, last_name, country, region, city,
                                           postal_code, score_base, created_at, updated_at)
                SELECT %s + g, md5('lead' || g)::uuid, 'r' || g || '@example.com', '', 'Ann', 'Lee', 'US', '', '', '',
                       0, {arrival}, now()
                FROM generate_series(%s::bigint, %s::bigint) AS g""",
                [base["lead"], first, last],
            )
            # Five page views of the opt-in (some on later days), an opt-in for 60 %, the order form for 50 %, a
            # checkout for 40 %, the upsell for 35 % and the downsell for a third of those.
            cursor.execute(
                f"""INSERT INTO leads_event (type, name, lead_id, visitor_id, funnel_id, step_id, variant_id,
                                            occurred_at, recorded_at, properties, idempotency_key)
                SELECT t.type, '', CASE WHEN g %% 10 < 6 THEN %s + g END, md5('v' || g)::uuid, %s, t.step,
                       CASE WHEN t.step = %s THEN CASE WHEN g %% 2 = 0 THEN %s ELSE %s END END,
                       {arrival} + (t.offset_days || ' days')::interval + (t.n || ' minutes')::interval, now(), '{{}}',
                       'b:' || g || ':' || t.n
                FROM generate_series(%s::bigint, %s::bigint) AS g
                CROSS JOIN (VALUES (1, 'page_view', %s, 0, 10), (2, 'page_view', %s, 0, 10),
                                   (3, 'page_view', %s, 3, 10), (4, 'page_view', %s, 9, 7),
                                   (5, 'optin', %s, 0, 6), (6, 'page_view', %s, 0, 5),
                                   (7, 'page_view', %s, 4, 3), (8, 'checkout_started', %s, 0, 4),
                                   (9, 'page_view', %s, 0, 4), (10, 'page_view', %s, 0, 2),
                                   (11, 'page_view', %s, 30, 7)) AS t(n, type, step, offset_days, share)
                WHERE g %% 10 < t.share""",
                [base["lead"], ids["funnel"], ids["order"], ids["variant_a"], ids["variant_b"], first, last,
                 ids["optin"], ids["optin"], ids["optin"], ids["optin"], ids["optin"], ids["order"], ids["order"],
                 ids["order"], ids["upsell"], ids["downsell"], ids["optin"]],
            )  # fmt: skip
            _bar("visitors", last, visitors, started)
        started = time.monotonic()
        owner = f"(1 + (i - 1) %% {buyers})"
        # Repeat orders come 1 to 11 months after the buyer's first; none is paid in the future.
        paid = (
            f"LEAST(now() - ((({owner} * 7919) %% {DAYS}) || ' days')::interval "
            f"+ ((((i - 1) / {buyers}) * (30 + i %% 300)) || ' days')::interval, now())"
        )
        bump, upsell, refunded = "i %% 5 < 2", "i %% 20 < 3", "i %% 20 = 7"
        for first in range(1, orders + 1, CHUNK):
            last = min(first + CHUNK - 1, orders)
            cursor.execute(
                f"""INSERT INTO offers_order (id, public_id, lead_id, funnel_id, status, currency, subtotal_minor,
                        discount_minor, total_minor, refunded_minor, chargeback_minor, stripe_customer_id, client,
                        created_at, paid_at)
                SELECT %s + i, md5('order' || i)::uuid, %s + {owner}, %s,
                       CASE WHEN {refunded} THEN 'partially_refunded' ELSE 'paid' END, 'USD', t, 0, t,
                       CASE WHEN {refunded} THEN 700 ELSE 0 END, 0, '', '{{}}', p, p
                FROM (SELECT i, {paid} AS p,
                             700 + CASE WHEN {bump} THEN 1700 ELSE 0 END + CASE WHEN {upsell} THEN 9700 ELSE 0 END AS t
                      FROM generate_series(%s::bigint, %s::bigint) AS i) AS o""",
                [base["order"], base["lead"], ids["funnel"], first, last],
            )
            cursor.execute(
                f"""INSERT INTO offers_payment (id, order_id, kind, amount_minor, currency, status,
                        stripe_payment_method_id, failure_code, failure_message, visitor_id, step_id, variant_id,
                        created_at, updated_at)
                SELECT %s + i * 2 + k, %s + i, 'checkout',
                       CASE WHEN k = 0 THEN 700 + CASE WHEN {bump} THEN 1700 ELSE 0 END ELSE 9700 END, 'USD',
                       'succeeded', '', '', '', md5('v' || {owner})::uuid, CASE WHEN k = 0 THEN %s ELSE %s END,
                       CASE WHEN k = 0 THEN CASE WHEN {owner} %% 2 = 0 THEN %s ELSE %s END END, now(), now()
                FROM generate_series(%s::bigint, %s::bigint) AS i CROSS JOIN generate_series(0, 1) AS k
                WHERE k = 0 OR {upsell}""",
                [base["payment"], base["order"], ids["order"], ids["upsell"], ids["variant_a"], ids["variant_b"],
                 first, last],
            )  # fmt: skip
            cursor.execute(
                f"""INSERT INTO offers_orderline (id, order_id, payment_id, offer_id, role, description, amount_minor,
                        discount_minor, refunded_minor, chargeback_minor, currency, created_at)
                SELECT %s + i * 3 + k, %s + i, %s + i * 2 + CASE WHEN k = 2 THEN 1 ELSE 0 END,
                       CASE k WHEN 0 THEN %s WHEN 1 THEN %s ELSE %s END,
                       CASE k WHEN 0 THEN 'tripwire' WHEN 1 THEN 'order_bump' ELSE 'core' END, 'line',
                       CASE k WHEN 0 THEN 700 WHEN 1 THEN 1700 ELSE 9700 END, 0,
                       CASE WHEN k = 0 AND {refunded} THEN 700 ELSE 0 END, 0, 'USD', now()
                FROM generate_series(%s::bigint, %s::bigint) AS i CROSS JOIN generate_series(0, 2) AS k
                WHERE k = 0 OR (k = 1 AND {bump}) OR (k = 2 AND {upsell})""",
                [base["line"], base["order"], base["payment"], ids["offer_order"], ids["bump"], ids["offer_upsell"],
                 first, last],
            )  # fmt: skip
            cursor.execute(
                """INSERT INTO leads_event (type, name, lead_id, visitor_id, funnel_id, step_id, variant_id, offer_id,
                        order_id, occurred_at, recorded_at, properties, idempotency_key)
                SELECT 'purchase', '', o.lead_id, p.visitor_id, o.funnel_id, p.step_id, p.variant_id, l.offer_id, o.id,
                       o.paid_at, now(), '{}', 'bo:' || l.id
                FROM offers_orderline l JOIN offers_order o ON o.id = l.order_id
                JOIN offers_payment p ON p.id = l.payment_id
                WHERE o.id BETWEEN %s AND %s""",
                [base["order"] + first, base["order"] + last],
            )
            cursor.execute(
                """INSERT INTO leads_event (type, name, lead_id, funnel_id, offer_id, order_id, occurred_at,
                        recorded_at, properties, idempotency_key)
                SELECT 'refund', '', o.lead_id, o.funnel_id, l.offer_id, o.id, o.paid_at + interval '3 days', now(),
                       '{}', 'br:' || o.id
                FROM offers_order o JOIN offers_orderline l ON l.order_id = o.id AND l.refunded_minor > 0
                WHERE o.id BETWEEN %s AND %s""",
                [base["order"] + first, base["order"] + last],
            )
            _bar("orders", last, orders, started)
        for table in ("leads_lead", "offers_order", "offers_payment", "offers_orderline"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        cursor.execute("ANALYZE")
