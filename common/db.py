"""Set-based writes the ORM does not offer directly. Portable to PostgreSQL and SQLite 3.35+."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from django.db import connection, models
from django.db.models.expressions import RawSQL
from django.utils import timezone


def insert_ignoring_conflicts(
    objs: Sequence[models.Model], *, conflict_fields: Sequence[str], returning: str = "pk"
) -> list[Any]:
    """Insert ``objs`` in one statement, skipping rows that clash on ``conflict_fields``; returns the new rows'
    primary keys (or their ``returning`` field). Rows that clash with each other in ``objs`` are inserted once.

    ``INSERT … ON CONFLICT (…) DO NOTHING RETURNING pk`` lets the unique index decide, so concurrent writers
    never raise and never duplicate, and a caller learns which rows were new without a second query.
    """
    if not objs:
        return []
    meta = objs[0]._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    params: list[Any] = []
    for obj in objs:
        params.extend(f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields)
    quote = connection.ops.quote_name
    conflict_columns = [cast(models.Field, meta.get_field(name)).column for name in conflict_fields]
    returned = meta.pk.column if returning == "pk" else cast(models.Field, meta.get_field(returning)).column
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
        f"VALUES {', '.join([row] * len(objs))} "
        f"ON CONFLICT ({', '.join(quote(column) for column in conflict_columns)}) DO NOTHING "
        f"RETURNING {quote(returned)}"  # identifiers come from the model, values are parameters
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [pk for (pk,) in cursor.fetchall()]


def rows_insert(
    model: type[models.Model],
    rows: Sequence[dict[str, Any]],
    *,
    conflict_fields: Sequence[str] = (),
    update_fields: Sequence[str] = (),
    returning: str | tuple[str, ...] | None = None,
) -> list[Any]:
    """Insert many rows, given as ``{column: value}``, in one statement; returns the ``returning`` column (or a tuple
    of the ``returning`` columns) of each row written: new, or updated when ``update_fields`` names the columns a clash
    on ``conflict_fields`` overwrites. Without ``conflict_fields``, a clash is an error.

    Columns a row leaves out take the field's default (``auto_now`` fields: now). Rows are written in order, so when
    two rows in ``rows`` clash, the first is inserted and the second is skipped (or, with ``update_fields``, must not
    occur). On PostgreSQL the rows travel as one JSON document that the database decodes
    (``jsonb_populate_recordset`` against the table's own row type): a fraction of the cost of binding each value.
    """
    if not rows:
        return []
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key or f.column in rows[0]]  # keys the database makes
    constant, per_row = _defaults([f for f in fields if f.column not in rows[0]])
    if per_row:
        rows = [{**{f.column: f.get_default() for f in per_row}, **row} for row in rows]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = [quote(f.column) for f in fields]
    conflict = ", ".join(quote(cast(models.Field, meta.get_field(name)).column) for name in conflict_fields)
    action = (
        "DO UPDATE SET " + ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in update_fields)
        if update_fields
        else "DO NOTHING"
    )
    on_conflict = f" ON CONFLICT ({conflict}) {action}" if conflict_fields else ""
    back_columns = [returning] if isinstance(returning, str) else list(returning or ())
    back = f" RETURNING {', '.join(quote(c) for c in back_columns)}" if back_columns else ""
    if connection.vendor == "postgresql":
        # In FROM, so the record is decoded once per row (``(f(…)).column`` in the select list calls f per column);
        # a column every row defaults is one parameter, not a value in each row.
        selected = [
            f"CAST(%s AS {f.db_type(connection)})" if f.column in constant else f"r.{quote(f.column)}" for f in fields
        ]
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608  (identifiers from the model, data a parameter)
            f"SELECT {', '.join(selected)} "
            f"FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb) WITH ORDINALITY AS r "
            f"ORDER BY r.ordinality{on_conflict}{back}"
        )
        params: list[Any] = [
            *(f.get_db_prep_save(f.to_python(constant[f.column]), connection) for f in fields if f.column in constant),
            json.dumps(rows, default=str, separators=(",", ":")),
        ]
    else:
        rows = [{**constant, **row} for row in rows]
        placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([placeholders] * len(rows))} "  # noqa: S608
            f"{on_conflict.lstrip()}{back}"
        )
        params = [f.get_db_prep_save(f.to_python(row[f.column]), connection) for row in rows for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if not back_columns:
            return []
        fetched = cursor.fetchall()
        return [row[0] for row in fetched] if isinstance(returning, str) else [tuple(row) for row in fetched]


def rows_update(model: type[models.Model], rows: Sequence[dict[str, Any]], *, columns: Sequence[str]) -> None:
    """Set ``columns`` of many rows, each given as ``{primary key column: …, column: value, …}``, in one statement."""
    if not rows:
        return
    meta = model._meta
    if connection.vendor != "postgresql":
        objs = [model(**{meta.pk.attname: row[meta.pk.column], **{c: row[c] for c in columns}}) for row in rows]
        fields = [f.name for f in meta.concrete_fields if f.column in columns]
        model._default_manager.bulk_update(objs, fields)
        return
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    assignments = ", ".join(f"{quote(c)} = r.{quote(c)}" for c in columns)
    sql = (
        f"UPDATE {table} SET {assignments} "  # noqa: S608  (identifiers from the model, data a parameter)
        f"FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb) AS r WHERE {table}.{pk} = r.{pk}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(list(rows), default=str, separators=(",", ":"))])


def _defaults(missing: Sequence[models.Field]) -> tuple[dict[str, Any], list[models.Field]]:
    """For the columns the rows leave out: the value all rows share, by column, and the fields whose default is made
    for each row (a callable)."""
    now = timezone.now().isoformat()  # as text, as the rows travel (and read back by each backend as a time)
    constant: dict[str, Any] = {}
    per_row: list[models.Field] = []
    for f in missing:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            constant[f.column] = now
        elif f.has_default() and callable(f.default):
            per_row.append(f)
        else:
            constant[f.column] = f.get_default()  # "" for text fields without a default, else None
    return constant, per_row


def statistics_refresh(model: type[models.Model], *, share: float = 0.1, minimum: int = 5_000) -> bool:
    """``ANALYZE`` the model's table on PostgreSQL when more than ``share`` of it (and at least ``minimum`` rows)
    changed since its statistics were taken. A query planned on stale statistics after a bulk write (a sync's
    ledger, before autovacuum has looked) can take seconds where it should take milliseconds. Returns whether it
    analyzed."""
    if connection.vendor != "postgresql":
        return False
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.n_mod_since_analyze, c.reltuples FROM pg_stat_user_tables s "
            "JOIN pg_class c ON c.oid = s.relid WHERE s.relname = %s",
            [table],
        )
        found = cursor.fetchone()
        if found is None:
            return False
        changed, rows = found
        if changed < minimum or changed < share * max(rows, 0):
            return False
        cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
    return True


def among(ids: Sequence[int]) -> Any:
    """The right-hand side of an ``__in`` lookup on many ids: on PostgreSQL one array parameter, since compiling and
    binding a parameter per id (thousands of them, in each of several statements) costs more than the statements do;
    elsewhere the list itself."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", (list(ids),))  # noqa: S611 (a fixed statement, the ids bound)
    return list(ids)
