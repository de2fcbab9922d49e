"""``field__unicode_lower``: a text column in Unicode lower case on every database, for case-insensitive matching
of names people type (``Île`` and ``île``). PostgreSQL's LOWER follows Unicode in a UTF-8 database; SQLite's folds
only ASCII, so on SQLite the transform calls a function registered on each connection (Python's ``str.lower``)."""

from __future__ import annotations

from typing import Any

from django.db.backends.signals import connection_created
from django.db.models import CharField, TextField, Transform


class UnicodeLower(Transform):
    lookup_name = "unicode_lower"
    function = "LOWER"

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, function="ladder_unicode_lower", **extra)


def _lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


def _register_sqlite_function(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function("ladder_unicode_lower", 1, _lower, deterministic=True)


def install() -> None:
    CharField.register_lookup(UnicodeLower)
    TextField.register_lookup(UnicodeLower)
    connection_created.connect(_register_sqlite_function, dispatch_uid="ladder_unicode_lower")
