"""Database helpers the ORM does not offer directly. Portable to PostgreSQL and SQLite 3.35+."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any, cast

from django.db import connection, connections, models
from django.db.models import QuerySet


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


_DONE = object()


def rows_read_ahead(rows: QuerySet[Any], *, chunk_size: int = 5000, depth: int = 2) -> Iterator[Any]:
    """The rows of a query, read by a helper thread on its own connection while the caller works on earlier ones.

    The database and the caller's Python then run at the same time (each on a core). A separate connection
    sees only committed data, so inside a transaction (``atomic``, or a test's) the rows are read in the
    caller's thread as usual. At most ``depth`` chunks wait in memory; the helper stops when the caller does.
    """
    if connection.in_atomic_block:
        yield from rows.iterator(chunk_size=chunk_size)
        return
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            chunk: list[Any] = []
            for row in rows.iterator(chunk_size=chunk_size):
                chunk.append(row)
                if len(chunk) == chunk_size:
                    if not hand_over(chunk):
                        return
                    chunk = []
            if hand_over(chunk):
                hand_over(_DONE)
        except BaseException as error:  # noqa: BLE001 (handed to the caller's thread, which raises it)
            hand_over(error)
        finally:
            connections.close_all()  # this thread's own connections

    reader = threading.Thread(target=read, name="ladder-read-ahead", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield from item
    finally:
        stop.set()
        reader.join()
