"""Visitors: presence on a step, distinct days, split-test exposures."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from analytics.models import (
    DistinctDay,
    Exposure,
    Presence,
)
from analytics.services.deltas import (
    NO_DAY,
    _add,
    _merge,
)

# --- visitors: presence, distinct days, exposures ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Seen:
    kind: int
    step_id: int
    visitor_id: uuid.UUID
    day: dt.date
    variant_id: int


def _series_rows(days_by_variant: dict[int, set[dt.date]]) -> list[tuple[int, dt.date, dt.date]]:
    """A (visitor, kind, step)'s DistinctDay rows: (variant or 0 for all, day, previous day seen)."""
    rows = []
    series = {0: set().union(*days_by_variant.values()) if days_by_variant else set()}
    series.update({v: days for v, days in days_by_variant.items() if v})
    for variant, days in series.items():
        previous = NO_DAY
        for day in sorted(days):
            rows.append((variant, day, previous))
            previous = day
    return rows


def _presence_apply(seen: set[_Seen]) -> None:
    if not seen:
        return
    keys = {(s.kind, s.step_id, s.visitor_id) for s in seen}
    before: dict[tuple[int, int, uuid.UUID], dict[int, set[dt.date]]] = defaultdict(lambda: defaultdict(set))
    by_series: dict[tuple[int, int], list[uuid.UUID]] = defaultdict(list)
    for kind, step_id, visitor in keys:
        by_series[(kind, step_id)].append(visitor)
    for (kind, step_id), visitors in by_series.items():
        for start in range(0, len(visitors), 2000):
            for visitor, day, variant in Presence.objects.filter(
                kind=kind, step_id=step_id, visitor_id__in=visitors[start : start + 2000]
            ).values_list("visitor_id", "day", "variant_id"):
                before[(kind, step_id, visitor)][variant].add(day)
    deltas: dict[tuple[Any, ...], list[int]] = {}
    new_rows = []
    after: dict[tuple[int, int, uuid.UUID], dict[int, set[dt.date]]] = {
        key: defaultdict(set, {v: set(days) for v, days in before.get(key, {}).items()}) for key in keys
    }
    for s in seen:
        days = after[(s.kind, s.step_id, s.visitor_id)][s.variant_id]
        if s.day not in days:
            days.add(s.day)
            new_rows.append(
                Presence(kind=s.kind, step_id=s.step_id, visitor_id=s.visitor_id, day=s.day, variant_id=s.variant_id)
            )
    for key in keys:
        kind, step_id, _ = key
        for variant, day, previous in _series_rows(before.get(key, {})):
            _merge(deltas, (kind, step_id, variant, day, previous), [1], -1)
        for variant, day, previous in _series_rows(after[key]):
            _merge(deltas, (kind, step_id, variant, day, previous), [1], +1)
    Presence.objects.bulk_create(new_rows, batch_size=2000, ignore_conflicts=True)
    _add(DistinctDay, ["kind", "step_id", "variant_id", "day", "prev_day"], deltas)


def _exposures_apply(views: list[tuple[int, uuid.UUID, int, dt.datetime, int]]) -> None:
    """Keep each (step, visitor)'s earliest variant page view: (step, visitor, variant, time, event id)."""
    earliest: dict[tuple[int, uuid.UUID], tuple[dt.datetime, int, int]] = {}
    for step_id, visitor, variant, at, event_id in views:
        key, value = (step_id, visitor), (at, event_id, variant)
        if key not in earliest or value < earliest[key]:
            earliest[key] = value
    if not earliest:
        return
    by_step: dict[int, list[uuid.UUID]] = defaultdict(list)
    for step_id, visitor in earliest:
        by_step[step_id].append(visitor)
    known: dict[tuple[int, uuid.UUID], Exposure] = {}
    for step_id, visitors in by_step.items():
        for start in range(0, len(visitors), 2000):
            for exposure in Exposure.objects.filter(step_id=step_id, visitor_id__in=visitors[start : start + 2000]):
                known[(exposure.step_id, exposure.visitor_id)] = exposure
    create, update = [], []
    for (step_id, visitor), (at, event_id, variant) in earliest.items():
        old = known.get((step_id, visitor))
        if old is None:
            create.append(
                Exposure(step_id=step_id, visitor_id=visitor, variant_id=variant, first_at=at, event_id=event_id)
            )
        elif (at, event_id) < (old.first_at, old.event_id):
            old.first_at, old.event_id, old.variant_id = at, event_id, variant
            update.append(old)
    Exposure.objects.bulk_create(create, batch_size=2000)
    Exposure.objects.bulk_update(update, ["first_at", "event_id", "variant_id"], batch_size=2000)
