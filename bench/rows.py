"""Bulk rows for the benchmarks, inserted with SQL but with the model's own column list.

``insert_sql(Model, {column: SQL expression})`` gives the column list and the SELECT list of an INSERT … SELECT: the
columns named get the expressions given, every other concrete column its field's default (as a literal) or NULL.
A column the models gain later is therefore filled as Django would fill it, and one with neither a default nor NULL
stops the benchmark at once with its name, instead of the benchmark rotting until someone runs it.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, models
from psycopg import sql


def insert_sql(model: type[models.Model], given: dict[str, str], *, percent_escaped: bool = True) -> tuple[str, str]:
    """(columns, expressions) for ``INSERT INTO <table> (columns) SELECT expressions``. ``percent_escaped``: the
    statement has bound parameters, so a literal ``%`` in a default is doubled."""
    columns, expressions = [], []
    unknown = set(given) - {field.column for field in model._meta.concrete_fields}
    if unknown:
        raise ValueError(f"{model._meta.db_table} has no column {', '.join(sorted(unknown))}")
    for field in model._meta.concrete_fields:
        if field.column in given:
            columns.append(field.column)
            expressions.append(given[field.column])
        elif isinstance(field, models.AutoField | models.BigAutoField):
            continue
        elif field.has_default():
            columns.append(field.column)
            expressions.append(_literal(field, field.get_default(), percent_escaped=percent_escaped))
        elif not field.null:
            raise ValueError(f"{model._meta.db_table}.{field.column} needs a value: it has no default and no NULL")
    return ", ".join(columns), ", ".join(expressions)


def _literal(field: Any, value: Any, *, percent_escaped: bool) -> str:
    prepared = field.get_db_prep_save(value, connection)
    with connection.cursor() as cursor:
        text = sql.Literal(prepared).as_string(cursor.connection)
    return text.replace("%", "%%") if percent_escaped else text
