"""Days, and adding deltas to summed tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from django.db import connection, models
from django.utils import timezone

from offers.models import Order

CURSOR = "events"
NO_DAY = dt.date(1, 1, 1)  # prev_day of a visitor's first day in a series
BATCH = 5000
MONEY_EVENTS = ("purchase", "refund", "chargeback")
PAID_STATUSES = (Order.Status.PAID, Order.Status.PARTIALLY_REFUNDED, Order.Status.REFUNDED)


def local_day(moment: dt.datetime) -> dt.date:
    """The day a moment falls on in ``settings.TIME_ZONE``: the reports' days."""
    return timezone.localtime(moment).date()


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


# --- adding deltas to summed tables -----------------------------------------------------------------------------


def _add(model: type[models.Model], key_fields: Sequence[str], deltas: dict[tuple[Any, ...], list[int]]) -> None:
    """Add ``deltas`` (key → increments of the model's counter fields) to ``model``, then drop rows left at zero,
    so the table holds exactly what a rebuild would."""
    deltas = {key: values for key, values in deltas.items() if any(values)}
    if not deltas:
        return
    meta = model._meta
    counters = [f.column for f in meta.concrete_fields if f.name not in key_fields and not f.primary_key]
    key_model_fields = [cast(models.Field, meta.get_field(name)) for name in key_fields]
    columns = [f.column for f in key_model_fields]

    def prepared(key: tuple[Any, ...]) -> list[Any]:
        return [f.get_db_prep_value(value, connection) for f, value in zip(key_model_fields, key, strict=True)]

    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    row = "(" + ", ".join(["%s"] * (len(columns) + len(counters))) + ")"
    updates = ", ".join(f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in counters)
    items = list(deltas.items())
    with connection.cursor() as cursor:
        for start in range(0, len(items), 1000):
            chunk = items[start : start + 1000]
            params: list[Any] = []
            for key, values in chunk:
                params.extend(prepared(key))
                params.extend(values)
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(quote(c) for c in columns + counters)}) "  # noqa: S608
                f"VALUES {', '.join([row] * len(chunk))} "
                f"ON CONFLICT ({', '.join(quote(c) for c in columns)}) DO UPDATE SET {updates}",
                params,
            )
            zero = " AND ".join(f"{quote(c)} = 0" for c in counters)
            key_row = "(" + ", ".join(["%s"] * len(columns)) + ")"
            cursor.execute(
                f"DELETE FROM {table} WHERE {zero} AND ({', '.join(quote(c) for c in columns)}) IN "  # noqa: S608
                f"(VALUES {', '.join([key_row] * len(chunk))})",
                [value for key, _ in chunk for value in prepared(key)],
            )


def _merge(into: dict[tuple[Any, ...], list[int]], key: tuple[Any, ...], values: Sequence[int], sign: int) -> None:
    current = into.setdefault(key, [0] * len(values))
    for index, value in enumerate(values):
        current[index] += sign * value
