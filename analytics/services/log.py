"""Reading the event log past the cursor, and the rebuild."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

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
from analytics.rebuild import rebuild_postgresql
from analytics.services.deltas import (
    BATCH,
    CURSOR,
    MONEY_EVENTS,
    local_day,
)
from analytics.services.money import (
    _money_apply,
)
from analytics.services.visitors import _exposures_apply, _presence_apply, _Seen
from funnels.models import Step
from funnels.selectors import CONVERSION_EVENTS
from leads.log import log_read

# --- reading the event log ------------------------------------------------------------------------------------------

_EVENT_FIELDS = ("pk", "type", "name", "visitor_id", "step_id", "variant_id", "occurred_at", "order_id", "lead_id")


def _fold(events: Sequence[tuple[Any, ...]]) -> None:
    """Fold a batch of events (``_EVENT_FIELDS`` tuples) into the rollups."""
    step_ids = {e[4] for e in events if e[4] is not None}
    kinds = dict(Step.objects.filter(pk__in=step_ids).values_list("pk", "kind"))
    seen: set[_Seen] = set()
    views: list[tuple[int, uuid.UUID, int, dt.datetime, int]] = []
    orders: set[int] = set()
    leads: set[int] = set()
    for pk, type_, name, visitor, step_id, variant, occurred_at, order_id, lead_id in events:
        if type_ in MONEY_EVENTS and order_id is not None:
            orders.add(order_id)
        if lead_id is not None:
            leads.add(lead_id)
        if visitor is None or step_id is None or step_id not in kinds:
            continue
        variant = variant or 0
        if type_ == "page_view":
            seen.add(_Seen(Kind.VIEW, step_id, visitor, local_day(occurred_at), variant))
            if variant:
                views.append((step_id, visitor, variant, occurred_at, pk))
        elif type_ in CONVERSION_EVENTS.get(kinds[step_id], ()) and (type_ != "custom" or name == "step_accept"):
            seen.add(_Seen(Kind.CONVERSION, step_id, visitor, local_day(occurred_at), variant))
    _presence_apply(seen)
    _exposures_apply(views)
    _money_apply(orders, leads)


@dataclass(frozen=True, slots=True)
class Advance:
    events: int
    position: int


def rollups_advance(*, limit: int = BATCH, now: dt.datetime | None = None) -> Advance:
    """Fold up to ``limit`` new events (and any late ones the cursor passed) into the rollups, in one transaction.

    Ids the cursor passes that do not exist yet (a transaction still open, or an id a rollback or a duplicate used
    up) are remembered for ``GAP_EXPIRY`` and folded in if they appear; only the last ``GAP_WINDOW`` ids of the log
    can be such a transaction's. Returns how many events were folded.
    """
    now = now or timezone.now()
    with transaction.atomic():
        read = log_read(
            cursor_model=RollupCursor, gap_model=RollupGap, name=CURSOR, fields=_EVENT_FIELDS, limit=limit, now=now
        )
        _fold(read.rows)
    return Advance(events=len(read.rows), position=read.position)


def rollups_catch_up(*, limit: int = BATCH, progress: Callable[[int], None] | None = None) -> int:
    """Advance until the cursor reaches the end of the log; returns the events folded."""
    total = 0
    while True:
        step = rollups_advance(limit=limit)
        total += step.events
        if progress is not None:
            progress(step.events)
        if step.events < limit:
            return total


DERIVED = (
    Presence,
    DistinctDay,
    Exposure,
    LineFact,
    OrderFact,
    SalesDay,
    OrderDay,
    VisitorValue,
    Buyer,
    CohortCell,
    RfmCell,
    LeadFact,
    ChannelDay,
    LeadSeriesDay,
)


def rollups_rebuild(*, limit: int = 20_000, progress: Callable[[int], None] | None = None) -> int:
    """Empty every rollup and compute it again from the whole event log and the orders; the result is the same as
    the incremental maintenance's. On PostgreSQL in set-based SQL (``analytics.rebuild``), elsewhere by folding
    the log from the start. Returns the events covered."""
    if connection.vendor == "postgresql":
        with transaction.atomic():
            RollupCursor.objects.get_or_create(name=CURSOR)
            RollupCursor.objects.select_for_update().get(name=CURSOR)
            covered = rebuild_postgresql(settings.TIME_ZONE)
        if progress is not None:
            progress(covered)
        return covered
    with transaction.atomic():
        for model in DERIVED:
            model._default_manager.all().delete()
        RollupGap.objects.all().delete()
        RollupCursor.objects.update_or_create(name=CURSOR, defaults={"position": 0})
    return rollups_catch_up(limit=limit, progress=progress)
