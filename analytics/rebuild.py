"""The rollups rebuilt from scratch in set-based SQL (PostgreSQL): what ``rollups_rebuild`` runs there.

Each statement is the definition the incremental maintenance (``analytics.services``) applies as deltas, written
over the whole log at once, so a rebuild of ten million events takes minutes instead of the hours a replay would.
The test suite checks on PostgreSQL that both give exactly the same rows.
"""

from __future__ import annotations

from django.db import connection

from analytics.models import (
    Buyer,
    ChannelDay,
    CohortCell,
    DistinctDay,
    Exposure,
    Kind,
    LeadFact,
    LeadSeriesDay,
    LineFact,
    OrderDay,
    OrderFact,
    Presence,
    RfmCell,
    RollupCursor,
    RollupGap,
    SalesDay,
    VisitorValue,
)
from funnels.models import Step
from funnels.selectors import CONVERSION_EVENTS
from leads.log import GAP_WINDOW
from leads.models import Event, Lead, Touch
from offers.models import Order, OrderLine, Payment


def _tables() -> dict[str, str]:
    models = {
        "presence": Presence,
        "distinct_day": DistinctDay,
        "exposure": Exposure,
        "line_fact": LineFact,
        "order_fact": OrderFact,
        "sales_day": SalesDay,
        "order_day": OrderDay,
        "visitor_value": VisitorValue,
        "buyer": Buyer,
        "cohort_cell": CohortCell,
        "rfm_cell": RfmCell,
        "lead_fact": LeadFact,
        "channel_day": ChannelDay,
        "lead_series_day": LeadSeriesDay,
        "lead": Lead,
        "touch": Touch,
        "event": Event,
        "step": Step,
        "order": Order,
        "line": OrderLine,
        "payment": Payment,
        "cursor": RollupCursor,
        "gap": RollupGap,
    }
    return {name: connection.ops.quote_name(model._meta.db_table) for name, model in models.items()}


def _conversion_pairs() -> str:
    pairs = [(kind, event) for kind, events in CONVERSION_EVENTS.items() for event in events]
    return ", ".join(f"('{kind}', '{event}')" for kind, event in pairs)  # constants from the code, not input


def _channel_columns(alias: str) -> str:
    """The SQL of ``services.channel_of`` over the touch ``alias`` (LEFT JOINed: no touch gives "(none)")."""
    return f"""CASE WHEN {alias}.id IS NULL THEN '(none)'
                    WHEN {alias}.utm_source <> '' THEN left({alias}.utm_source, 200)
                    WHEN {alias}.fbclid <> '' THEN 'meta (click id)'
                    WHEN {alias}.gclid <> '' OR {alias}.gbraid <> '' OR {alias}.wbraid <> '' THEN 'google (click id)'
                    ELSE '(direct)' END,
               CASE WHEN {alias}.id IS NULL THEN '' ELSE left({alias}.utm_campaign, 200) END"""


def statements(time_zone: str) -> list[tuple[str, list[str]]]:
    t = _tables()
    day = "(({col}) AT TIME ZONE %s)::date"
    paid = ", ".join(f"'{s}'" for s in (Order.Status.PAID, Order.Status.PARTIALLY_REFUNDED, Order.Status.REFUNDED))
    return [
        (
            f"""INSERT INTO {t["presence"]} (kind, step_id, visitor_id, day, variant_id)
            SELECT DISTINCT CASE WHEN e.type = 'page_view' THEN {Kind.VIEW} ELSE {Kind.CONVERSION} END, e.step_id,
                   e.visitor_id, {day.format(col="e.occurred_at")}, COALESCE(e.variant_id, 0)
            FROM {t["event"]} e JOIN {t["step"]} s ON s.id = e.step_id
            LEFT JOIN (VALUES {_conversion_pairs()}) AS c(kind, type) ON c.kind = s.kind AND c.type = e.type
            WHERE e.visitor_id IS NOT NULL
              AND (e.type = 'page_view' OR (c.type IS NOT NULL AND (e.type <> 'custom' OR e.name = 'step_accept')))""",
            [time_zone],
        ),
        (
            f"""INSERT INTO {t["distinct_day"]} (kind, step_id, variant_id, day, prev_day, visitors)
            SELECT kind, step_id, 0, day, COALESCE(prev, DATE '0001-01-01'), count(*)
            FROM (SELECT kind, step_id, day, lag(day) OVER (PARTITION BY kind, step_id, visitor_id ORDER BY day) AS prev
                  FROM (SELECT DISTINCT kind, step_id, visitor_id, day FROM {t["presence"]}) AS days) AS rows
            GROUP BY kind, step_id, day, COALESCE(prev, DATE '0001-01-01')""",
            [],
        ),
        (
            f"""INSERT INTO {t["distinct_day"]} (kind, step_id, variant_id, day, prev_day, visitors)
            SELECT kind, step_id, variant_id, day, COALESCE(prev, DATE '0001-01-01'), count(*)
            FROM (SELECT kind, step_id, variant_id, day,
                         lag(day) OVER (PARTITION BY kind, step_id, variant_id, visitor_id ORDER BY day) AS prev
                  FROM {t["presence"]} WHERE variant_id <> 0) AS rows
            GROUP BY kind, step_id, variant_id, day, COALESCE(prev, DATE '0001-01-01')""",
            [],
        ),
        (
            f"""INSERT INTO {t["exposure"]} (step_id, visitor_id, variant_id, first_at, event_id)
            SELECT DISTINCT ON (e.step_id, e.visitor_id) e.step_id, e.visitor_id, e.variant_id, e.occurred_at, e.id
            FROM {t["event"]} e JOIN {t["step"]} s ON s.id = e.step_id
            WHERE e.type = 'page_view' AND e.visitor_id IS NOT NULL AND e.variant_id IS NOT NULL AND e.variant_id <> 0
            ORDER BY e.step_id, e.visitor_id, e.occurred_at, e.id""",
            [],
        ),
        (
            f"""INSERT INTO {t["line_fact"]} (line_id, order_id, lead_id, funnel_id, step_id, variant_id, visitor_id,
                                            offer_id, is_bump, currency, day, charged_minor, refunded_minor)
            SELECT l.id, o.id, o.lead_id, COALESCE(o.funnel_id, 0), COALESCE(p.step_id, 0), COALESCE(p.variant_id, 0),
                   p.visitor_id, l.offer_id, l.role = 'order_bump', l.currency, {day.format(col="o.paid_at")},
                   l.amount_minor - l.discount_minor, l.refunded_minor + l.chargeback_minor
            FROM {t["line"]} l JOIN {t["order"]} o ON o.id = l.order_id
            LEFT JOIN {t["payment"]} p ON p.id = l.payment_id
            WHERE o.status IN ({paid}) AND o.paid_at IS NOT NULL
              AND o.id IN (SELECT order_id FROM {t["event"]}
                           WHERE type IN ('purchase', 'refund', 'chargeback') AND order_id IS NOT NULL)""",
            [time_zone],
        ),
        (
            f"""INSERT INTO {t["order_fact"]} (order_id, lead_id, funnel_id, currency, day, gross_minor, refunds_minor)
            SELECT order_id, min(lead_id), min(funnel_id), min(currency), min(day), sum(charged_minor),
                   sum(refunded_minor)
            FROM {t["line_fact"]} GROUP BY order_id""",
            [],
        ),
        (
            f"""INSERT INTO {t["sales_day"]} (funnel_id, step_id, variant_id, offer_id, is_bump, currency, day, lines,
                                            gross_minor, refunds_minor, refunded_lines)
            SELECT funnel_id, step_id, variant_id, offer_id, is_bump, currency, day, count(*), sum(charged_minor),
                   sum(refunded_minor), count(*) FILTER (WHERE refunded_minor <> 0)
            FROM {t["line_fact"]} GROUP BY funnel_id, step_id, variant_id, offer_id, is_bump, currency, day""",
            [],
        ),
        (
            f"""INSERT INTO {t["visitor_value"]} (funnel_id, visitor_id, currency, net_minor)
            SELECT funnel_id, visitor_id, currency, sum(charged_minor - refunded_minor)
            FROM {t["line_fact"]} WHERE visitor_id IS NOT NULL AND funnel_id <> 0
            GROUP BY funnel_id, visitor_id, currency HAVING sum(charged_minor - refunded_minor) <> 0""",
            [],
        ),
        (
            f"""INSERT INTO {t["order_day"]} (funnel_id, currency, day, orders, gross_minor, refunds_minor,
                                            refunded_orders)
            SELECT funnel_id, currency, day, count(*), sum(gross_minor), sum(refunds_minor),
                   count(*) FILTER (WHERE refunds_minor <> 0)
            FROM {t["order_fact"]} GROUP BY funnel_id, currency, day""",
            [],
        ),
        (
            f"""INSERT INTO {t["buyer"]} (lead_id, currency, first_day, last_day, orders, net_minor)
            SELECT lead_id, currency, min(day), max(day), count(*), sum(gross_minor - refunds_minor)
            FROM {t["order_fact"]} WHERE gross_minor - refunds_minor > 0 GROUP BY lead_id, currency""",
            [],
        ),
        (
            f"""INSERT INTO {t["cohort_cell"]} (currency, cohort, month, buyers, net_minor)
            SELECT o.currency, date_trunc('month', b.first_day)::date, date_trunc('month', o.day)::date,
                   count(DISTINCT o.lead_id), sum(o.gross_minor - o.refunds_minor)
            FROM {t["order_fact"]} o JOIN {t["buyer"]} b ON b.lead_id = o.lead_id AND b.currency = o.currency
            WHERE o.gross_minor - o.refunds_minor > 0
            GROUP BY o.currency, date_trunc('month', b.first_day), date_trunc('month', o.day)""",
            [],
        ),
        (
            f"""INSERT INTO {t["lead_fact"]} (lead_id, created_day, first_source, first_campaign, last_source,
                                            last_campaign)
            SELECT l.id, {day.format(col="l.created_at")}, {_channel_columns("f")}, {_channel_columns("z")}
            FROM {t["lead"]} l
            LEFT JOIN {t["touch"]} f ON f.lead_id = l.id AND f.kind = 'first'
            LEFT JOIN {t["touch"]} z ON z.lead_id = l.id AND z.kind = 'last'
            WHERE l.id IN (SELECT lead_id FROM {t["event"]} WHERE lead_id IS NOT NULL)""",
            [time_zone],
        ),
        (
            f"""INSERT INTO {t["channel_day"]} (touch, source, campaign, currency, day, leads, orders, gross_minor,
                                              net_minor)
            SELECT touch, source, campaign, currency, day, sum(leads), sum(orders), sum(gross), sum(net)
            FROM (SELECT 'first' AS touch, first_source AS source, first_campaign AS campaign, '' AS currency,
                         created_day AS day, 1 AS leads, 0 AS orders, 0 AS gross, 0 AS net FROM {t["lead_fact"]}
                  UNION ALL
                  SELECT 'last', last_source, last_campaign, '', created_day, 1, 0, 0, 0 FROM {t["lead_fact"]}
                  UNION ALL
                  SELECT 'first', f.first_source, f.first_campaign, o.currency, o.day, 0, 1, o.gross_minor,
                         o.gross_minor - o.refunds_minor
                  FROM {t["order_fact"]} o JOIN {t["lead_fact"]} f ON f.lead_id = o.lead_id
                  UNION ALL
                  SELECT 'last', f.last_source, f.last_campaign, o.currency, o.day, 0, 1, o.gross_minor,
                         o.gross_minor - o.refunds_minor
                  FROM {t["order_fact"]} o JOIN {t["lead_fact"]} f ON f.lead_id = o.lead_id) AS rows
            GROUP BY touch, source, campaign, currency, day""",
            [],
        ),
        (
            f"""INSERT INTO {t["lead_series_day"]} (series, day, prev_day, leads)
            SELECT series, day, COALESCE(prev, DATE '0001-01-01'), count(*)
            FROM (SELECT series, day, lag(day) OVER (PARTITION BY series, lead_id ORDER BY day) AS prev
                  FROM (SELECT 'all|' || currency AS series, lead_id, day FROM {t["order_fact"]}
                        UNION
                        SELECT 'offer|' || offer_id || '|' || currency, lead_id, day FROM {t["line_fact"]}
                        UNION
                        SELECT 'channel|first|' || f.first_source || '|' || f.first_campaign || '|' || o.currency,
                               o.lead_id, o.day
                        FROM {t["order_fact"]} o JOIN {t["lead_fact"]} f ON f.lead_id = o.lead_id
                        UNION
                        SELECT 'channel|last|' || f.last_source || '|' || f.last_campaign || '|' || o.currency,
                               o.lead_id, o.day
                        FROM {t["order_fact"]} o JOIN {t["lead_fact"]} f ON f.lead_id = o.lead_id) AS days
                 ) AS rows
            GROUP BY series, day, COALESCE(prev, DATE '0001-01-01')""",
            [],
        ),
        (
            f"""INSERT INTO {t["rfm_cell"]} (currency, last_day, orders, buyers, net_minor)
            SELECT currency, last_day, orders, count(*), sum(net_minor) FROM {t["buyer"]}
            GROUP BY currency, last_day, orders""",
            [],
        ),
    ]


def rebuild_postgresql(time_zone: str) -> int:
    """Empty the rollups and recompute them from the log and the orders; the caller holds the cursor's lock in
    the transaction. Returns the events the rollups now cover (the log's last id)."""
    t = _tables()
    with connection.cursor() as cursor:
        derived = ", ".join(t[name] for name in ("presence", "distinct_day", "exposure", "line_fact", "order_fact",
                                                  "sales_day", "order_day", "visitor_value", "buyer", "cohort_cell",
                                                  "rfm_cell", "lead_fact", "channel_day",
                                                  "lead_series_day"))  # fmt: skip
        cursor.execute(f"TRUNCATE {derived}, {t['gap']}")
        cursor.execute(f"SELECT COALESCE(max(id), 0) FROM {t['event']}")
        last = int(cursor.fetchone()[0])
        for sql, params in statements(time_zone):
            cursor.execute(sql, params)
        cursor.execute(
            f"""INSERT INTO {t["gap"]} (event_id, seen_at)
            SELECT g, now() FROM generate_series(GREATEST(%s - {GAP_WINDOW}, 1), %s) AS g
            WHERE NOT EXISTS (SELECT 1 FROM {t["event"]} e WHERE e.id = g)""",
            [last, last],
        )
        cursor.execute(f"UPDATE {t['cursor']} SET position = %s, updated_at = now() WHERE name = 'events'", [last])
        cursor.execute(f"ANALYZE {derived}")
    return last
