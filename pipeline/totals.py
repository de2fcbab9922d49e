# ruff: noqa: S608  -- every statement here is built from this module's constants; none takes outside input.
"""The board's totals, kept by PostgreSQL triggers so the board reads a few rows instead of counting a million.

``pipeline_stagetotal`` holds, per (stage, owner, currency), the leads that are not erased (the row with an empty
currency) and the net revenue and predicted value of those leads. Statement-level triggers with transition tables
keep it exact whoever writes: a bulk move of 100,000 leads is one grouped statement, not a loop. On the leads table
they act on inserts, deletes and changes of stage, owner or erasure; on the buyers' rollup and the predictions, on
every change (and a TRUNCATE of either empties its column). Keys are 0 for "no stage" and "no owner". Rows are
locked in key order, so concurrent writers cannot deadlock on them. SQLite has none of this: the board counts live.
"""

from __future__ import annotations

from django.db import connection

TABLE = "pipeline_stagetotal"

_UPSERT = f"""
    INSERT INTO {TABLE} (stage_key, owner_key, currency, leads, net_minor, predicted_minor)
    SELECT s, o, c, SUM(l), SUM(n), SUM(p) FROM ({{rows}}) AS d (s, o, c, l, n, p)
    GROUP BY s, o, c ORDER BY s, o, c
    ON CONFLICT (stage_key, owner_key, currency) DO UPDATE SET
        leads = {TABLE}.leads + EXCLUDED.leads,
        net_minor = {TABLE}.net_minor + EXCLUDED.net_minor,
        predicted_minor = {TABLE}.predicted_minor + EXCLUDED.predicted_minor;
"""


def _lead_rows(rows: str, sign: int) -> str:
    """A lead set's contribution: a count row per lead, and its buyer and prediction rows as values."""
    return f"""
        SELECT COALESCE(x.stage_id, 0), COALESCE(x.owner_id, 0), '', {sign}, 0::bigint, 0::bigint
        FROM {rows} x WHERE x.erased_at IS NULL
        UNION ALL
        SELECT COALESCE(x.stage_id, 0), COALESCE(x.owner_id, 0), b.currency, 0, {sign} * b.net_minor, 0
        FROM {rows} x JOIN analytics_buyer b ON b.lead_id = x.id WHERE x.erased_at IS NULL
        UNION ALL
        SELECT COALESCE(x.stage_id, 0), COALESCE(x.owner_id, 0), v.currency, 0, 0, {sign} * v.predicted_value_minor
        FROM {rows} x JOIN analytics_customervalue v ON v.lead_id = x.id WHERE x.erased_at IS NULL"""


def _value_rows(rows: str, sign: int, net: str, predicted: str) -> str:
    return f"""
        SELECT COALESCE(l.stage_id, 0), COALESCE(l.owner_id, 0), r.currency, 0, {sign} * {net}, {sign} * {predicted}
        FROM {rows} r JOIN leads_lead l ON l.id = r.lead_id WHERE l.erased_at IS NULL"""


# The rows of an update whose stage, owner or erasure changed: as they were, and as they are.
_MOVED = """
    WHERE (o.stage_id, o.owner_id, o.erased_at IS NULL)
          IS DISTINCT FROM (n.stage_id, n.owner_id, n.erased_at IS NULL))"""
CHANGED = "(SELECT o.* FROM old_rows o JOIN new_rows n ON n.id = o.id" + _MOVED
CHANGED_NEW = "(SELECT n.* FROM old_rows o JOIN new_rows n ON n.id = o.id" + _MOVED


def install_sql() -> list[str]:
    """The functions and triggers (idempotent: they replace what is there)."""
    lead_body = f"""
        BEGIN
          IF TG_OP = 'INSERT' THEN {_UPSERT.format(rows=_lead_rows("new_rows", 1))}
          ELSIF TG_OP = 'DELETE' THEN {_UPSERT.format(rows=_lead_rows("old_rows", -1))}
          ELSE {_UPSERT.format(rows=_lead_rows(CHANGED, -1) + " UNION ALL " + _lead_rows(CHANGED_NEW, 1))}
          END IF;
          RETURN NULL;
        END"""
    value_bodies = {}
    for table, net, predicted in (
        ("analytics_buyer", "r.net_minor", "0"),
        ("analytics_customervalue", "0", "r.predicted_value_minor"),
    ):
        value_bodies[table] = f"""
        BEGIN
          IF TG_OP = 'INSERT' THEN {_UPSERT.format(rows=_value_rows("new_rows", 1, net, predicted))}
          ELSIF TG_OP = 'DELETE' THEN {_UPSERT.format(rows=_value_rows("old_rows", -1, net, predicted))}
          ELSE {_UPSERT.format(rows=_value_rows("old_rows", -1, net, predicted) + " UNION ALL "
                               + _value_rows("new_rows", 1, net, predicted))}
          END IF;
          RETURN NULL;
        END"""  # fmt: skip
    statements = [
        f"CREATE OR REPLACE FUNCTION pipeline_totals_lead() RETURNS trigger LANGUAGE plpgsql AS $${lead_body}$$",
        f"""CREATE OR REPLACE FUNCTION pipeline_totals_lead_truncate() RETURNS trigger LANGUAGE plpgsql AS
            $$BEGIN DELETE FROM {TABLE}; RETURN NULL; END$$""",
    ]
    for op in ("INSERT", "DELETE"):
        rows = "NEW TABLE AS new_rows" if op == "INSERT" else "OLD TABLE AS old_rows"
        statements += [
            f"DROP TRIGGER IF EXISTS pipeline_totals_{op.lower()} ON leads_lead",
            f"""CREATE TRIGGER pipeline_totals_{op.lower()} AFTER {op} ON leads_lead REFERENCING {rows}
                FOR EACH STATEMENT EXECUTE FUNCTION pipeline_totals_lead()""",
        ]
    statements += [
        "DROP TRIGGER IF EXISTS pipeline_totals_update ON leads_lead",
        """CREATE TRIGGER pipeline_totals_update AFTER UPDATE ON leads_lead
           REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
           FOR EACH STATEMENT EXECUTE FUNCTION pipeline_totals_lead()""",
        "DROP TRIGGER IF EXISTS pipeline_totals_truncate ON leads_lead",
        """CREATE TRIGGER pipeline_totals_truncate AFTER TRUNCATE ON leads_lead
           FOR EACH STATEMENT EXECUTE FUNCTION pipeline_totals_lead_truncate()""",
    ]
    for table, body in value_bodies.items():
        column = "net_minor" if table == "analytics_buyer" else "predicted_minor"
        statements += [
            f"CREATE OR REPLACE FUNCTION pipeline_totals_{table}() RETURNS trigger LANGUAGE plpgsql AS $${body}$$",
            f"""CREATE OR REPLACE FUNCTION pipeline_totals_{table}_truncate() RETURNS trigger LANGUAGE plpgsql AS
                $$BEGIN UPDATE {TABLE} SET {column} = 0 WHERE {column} <> 0; RETURN NULL; END$$""",
        ]
        for op, rows in (
            ("insert", "NEW TABLE AS new_rows"),
            ("delete", "OLD TABLE AS old_rows"),
            ("update", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ):
            statements += [
                f"DROP TRIGGER IF EXISTS pipeline_totals_{op} ON {table}",
                f"""CREATE TRIGGER pipeline_totals_{op} AFTER {op.upper()} ON {table} REFERENCING {rows}
                    FOR EACH STATEMENT EXECUTE FUNCTION pipeline_totals_{table}()""",
            ]
        statements += [
            f"DROP TRIGGER IF EXISTS pipeline_totals_truncate ON {table}",
            f"""CREATE TRIGGER pipeline_totals_truncate AFTER TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION pipeline_totals_{table}_truncate()""",
        ]
    return statements


def totals_rebuild() -> None:
    """Count everything afresh (after installing the triggers, or to check them)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("LOCK TABLE leads_lead, analytics_buyer, analytics_customervalue IN SHARE MODE")
        cursor.execute(f"DELETE FROM {TABLE}")
        cursor.execute(_UPSERT.format(rows=_lead_rows("leads_lead", 1)))


def totals_install() -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for statement in install_sql():
            cursor.execute(statement)
    totals_rebuild()


def kept() -> bool:
    """Whether the totals are kept here (PostgreSQL, triggers installed)."""
    return connection.vendor == "postgresql"
