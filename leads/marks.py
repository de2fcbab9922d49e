"""Leads whose audiences may have changed: written with each change, taken and cleared by the audience refresher.

One row per lead however many changes there were (the marks coalesce); ``marked_at`` moves with each change. The
refresher takes a batch, refreshes it, and clears exactly the marks it took: the (lead, ``marked_at``) pairs it
read. A change committed while it worked, even one whose transaction began before it read, has moved the mark (or
holds its row until it commits), so it is never cleared unseen, and the refresher need not wait for marks to age.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from common.db import rows_insert
from leads.models import LeadMark

Taken = list[tuple[int, dt.datetime]]


def leads_mark_changed(*, lead_ids: Sequence[int]) -> None:
    """Mark leads whose audience memberships may have changed, in the caller's transaction."""
    now = timezone.now().isoformat()
    rows_insert(
        LeadMark,
        [{"lead_id": lead_id, "marked_at": now} for lead_id in sorted(set(lead_ids))],
        conflict_fields=["lead"],
        update_fields=["marked_at"],
    )


def marks_take(*, limit: int, settle_seconds: float = 0.0) -> Taken:
    """The oldest marks (at least ``settle_seconds`` old), as (lead id, marked at) pairs; nothing is cleared yet."""
    marks = LeadMark.objects.order_by("marked_at")
    if settle_seconds:
        marks = marks.filter(marked_at__lte=timezone.now() - dt.timedelta(seconds=settle_seconds))
    return list(marks.values_list("lead_id", "marked_at")[:limit])


def marks_pending(*, limit: int) -> list[int]:
    """Leads marked and not yet refreshed (the oldest ``limit``), left for the refresher to take."""
    return list(LeadMark.objects.order_by("marked_at").values_list("lead_id", flat=True)[:limit])


def marks_clear(taken: Taken) -> int:
    """Clear the marks taken, unless a change has moved them since; returns how many were cleared."""
    if not taken:
        return 0
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {LeadMark._meta.db_table} AS mark "  # noqa: S608 (our table, values bound)
                "USING unnest(%s::bigint[], %s::timestamptz[]) AS taken(lead_id, marked_at) "
                "WHERE mark.lead_id = taken.lead_id AND mark.marked_at = taken.marked_at",
                [[lead_id for lead_id, _ in taken], [marked_at for _, marked_at in taken]],
            )
            return max(cursor.rowcount, 0)
    cleared = 0
    for start in range(0, len(taken), 400):  # SQLite binds at most a few thousand values a statement
        pairs = Q()
        for lead_id, marked_at in taken[start : start + 400]:
            pairs |= Q(lead_id=lead_id, marked_at=marked_at)
        cleared += LeadMark.objects.filter(pairs).delete()[0]
    return cleared
