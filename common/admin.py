"""Admin building blocks shared by the apps."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse


class ReadOnlyAdminMixin:
    """For records written only by the system (events, orders, payments, refunds): viewable, never edited here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


_NUMBER = re.compile(r"^[+-]?[0-9][0-9.]*$")
_FORMULA_STARTS = frozenset("=+-@\t\r")


def spreadsheet_safe(cell: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text starting like a formula (a name typed as "=HYPERLINK(...)") is
    quoted; a plain signed number (a phone number in E.164) is not a formula. None is an empty cell."""
    if isinstance(cell, str) and cell[:1] in _FORMULA_STARTS and not _NUMBER.match(cell):
        return "'" + cell
    return "" if cell is None else cell


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_stream(rows: Iterable[Sequence[Any]], filename: str) -> StreamingHttpResponse:
    """A CSV download written as it is read: each row's cells made spreadsheet-safe."""
    writer = csv.writer(_Echo())
    lines = (writer.writerow([spreadsheet_safe(cell) for cell in row]) for row in rows)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


def csv_export(fields: list[str], filename: str) -> Any:
    """An admin action that downloads the selected rows' ``fields`` (attributes or ``get_<field>_display``) as CSV,
    streamed, with a header row; it needs only the view permission."""
    from django.contrib import admin

    @admin.action(description="Download the selected rows as CSV", permissions=["view"])
    def export(modeladmin: Any, request: HttpRequest, queryset: Any) -> StreamingHttpResponse:
        def value(row: Any, field: str) -> Any:
            shown = getattr(row, f"get_{field}_display", None)
            return shown() if callable(shown) else getattr(row, field)

        def rows() -> Iterator[list[Any]]:
            yield fields
            for row in queryset.iterator(chunk_size=2000):
                yield [value(row, field) for field in fields]

        return csv_stream(rows(), filename)

    return export
