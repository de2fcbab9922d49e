"""Set-based writes the ORM does not offer directly. Portable to PostgreSQL and SQLite 3.35+."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django.db import connection, models


def insert_ignoring_conflicts(objs: Sequence[models.Model], *, conflict_fields: Sequence[str]) -> list[Any]:
    """Insert ``objs`` in one statement, skipping rows that clash on ``conflict_fields``; returns new primary keys.

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
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
        f"VALUES {', '.join([row] * len(objs))} "
        f"ON CONFLICT ({', '.join(quote(column) for column in conflict_columns)}) DO NOTHING "
        f"RETURNING {quote(meta.pk.column)}"  # identifiers come from the model, values are parameters
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [pk for (pk,) in cursor.fetchall()]
