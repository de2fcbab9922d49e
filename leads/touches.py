"""First- and last-touch attribution: a lead's first and latest landings, from the visitor's own page views."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

from common.db import insert_ignoring_conflicts
from leads.contracts import (
    ATTRIBUTION_FIELDS,
    UTM_FIELDS,
    Attribution,
    normalize_utm,
)
from leads.models import (
    Event,
    Lead,
    Touch,
)


def _touch_from_event(event: Event) -> dict[str, Any]:
    values = {
        name: str(event.properties.get(name, ""))[: 2000 if name.endswith(("url", "referrer")) else 500]
        for name in ATTRIBUTION_FIELDS
    }
    for name in UTM_FIELDS:  # a landing recorded before UTM values were normalized is read as if it were
        values[name] = normalize_utm(values[name])
    return {**values, "occurred_at": event.occurred_at}


def visitor_landings(visitor_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Event]]:
    """Each visitor's landing page views, earliest first (a visitor has a handful): one query for all of them."""
    found: dict[uuid.UUID, list[Event]] = defaultdict(list)
    if visitor_ids:
        landings = Event.objects.filter(
            visitor_id__in=visitor_ids, type=Event.Type.PAGE_VIEW, properties__landing=True
        ).order_by("occurred_at", "id")
        for event in landings:
            found[cast(uuid.UUID, event.visitor_id)].append(event)
    return found


Touches = tuple[dict[str, Any] | None, dict[str, Any] | None]


def touches_choose(landings: Sequence[Event], current: Attribution | None) -> Touches:
    """First touch: the visitor's earliest landing; last touch: their latest one, or this request's when it came from
    a campaign. Either is this request's attribution when the visitor has no landing."""
    first_event, last_event = (landings[0], landings[-1]) if landings else (None, None)
    current_values = (
        {**{name: getattr(current, name) for name in ATTRIBUTION_FIELDS}, "occurred_at": current.occurred_at}
        if current is not None
        else None
    )
    first = _touch_from_event(first_event) if first_event else current_values
    last = current_values if current is not None and current.has_campaign else None
    if last is None:
        last = _touch_from_event(last_event) if last_event else current_values
    return first, last


def touches_record(lead: Lead, visitor_id: uuid.UUID | None, current: Attribution | None, *, new_lead: bool) -> None:
    landings = visitor_landings([visitor_id]).get(visitor_id, []) if visitor_id is not None else []
    first, last = touches_choose(landings, current)
    if new_lead and first is not None and last is not None:  # nothing to keep or replace: one statement
        insert_ignoring_conflicts(
            [Touch(lead=lead, kind=Touch.Kind.FIRST, **first), Touch(lead=lead, kind=Touch.Kind.LAST, **last)],
            conflict_fields=["lead", "kind"],
        )
        return
    _touches_write(
        firsts=[Touch(lead=lead, kind=Touch.Kind.FIRST, **first)] if first is not None else [],
        lasts=[Touch(lead=lead, kind=Touch.Kind.LAST, **last)] if last is not None else [],
    )


def _touches_write(*, firsts: Sequence[Touch], lasts: Sequence[Touch]) -> None:
    """A first touch is kept once written; a last touch replaces the one before. At most one of each per lead."""
    if firsts:
        insert_ignoring_conflicts(firsts, conflict_fields=["lead", "kind"])
    if lasts:
        Touch.objects.bulk_create(
            lasts,
            update_conflicts=True,
            unique_fields=["lead", "kind"],
            update_fields=[*ATTRIBUTION_FIELDS, "occurred_at"],
        )
