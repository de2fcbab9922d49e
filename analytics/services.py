"""Keeping the rollups: read the event log past a cursor, and fold what it says into the derived tables.

Every change is a *delta*: for each visitor series or order the batch touches, its contribution to the rollups is
computed before and after the change, and only the difference is added (``INSERT … ON CONFLICT DO UPDATE SET n =
n + excluded.n``). So the incremental rollups equal a rebuild from scratch after any sequence of events, in any
batch sizes (``rollups_rebuild`` and the tests check exactly that). One maintainer runs at a time: the batch holds
the cursor's row lock, and the cursor, the facts and the rollups commit together.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.db import connection, models, transaction
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
from analytics.rebuild import GAP_WINDOW, rebuild_postgresql
from funnels.models import Step
from funnels.selectors import CONVERSION_EVENTS
from leads.models import Event, Lead, Touch
from offers.models import Order, OrderLine

CURSOR = "events"
NO_DAY = dt.date(1, 1, 1)  # prev_day of a visitor's first day in a series
GAP_EXPIRY = dt.timedelta(minutes=10)  # longer than any transaction that writes events stays open
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


# --- money: line and order facts, sales, buyers -------------------------------------------------------------------


def _line_facts(order_ids: Iterable[int]) -> list[LineFact]:
    """The facts the orders' lines stand for now (paid orders only), from the offers tables."""
    facts = []
    lines = (
        OrderLine.objects.filter(order_id__in=list(order_ids), order__status__in=PAID_STATUSES)
        .exclude(order__paid_at=None)
        .values_list(
            "pk",
            "order_id",
            "order__lead_id",
            "order__funnel_id",
            "payment__step_id",
            "payment__variant_id",
            "payment__visitor_id",
            "offer_id",
            "role",
            "currency",
            "order__paid_at",
            "amount_minor",
            "discount_minor",
            "refunded_minor",
            "chargeback_minor",
        )
    )
    for (pk, order, lead, funnel, step, variant, visitor, offer, role, currency, paid_at, amount, discount, refunded,
         chargeback) in lines:  # fmt: skip
        facts.append(
            LineFact(
                line_id=pk,
                order_id=order,
                lead_id=lead,
                funnel_id=funnel or 0,
                step_id=step or 0,
                variant_id=variant or 0,
                visitor_id=visitor,
                offer_id=offer,
                is_bump=role == "order_bump",
                currency=currency,
                day=local_day(paid_at),  # type: ignore[arg-type]  # the query excludes orders without one
                charged_minor=amount - discount,
                refunded_minor=refunded + chargeback,
            )
        )
    return facts


def _order_facts(lines: Iterable[LineFact]) -> list[OrderFact]:
    orders: dict[int, OrderFact] = {}
    for line in lines:
        fact = orders.get(line.order_id)
        if fact is None:
            fact = orders[line.order_id] = OrderFact(
                order_id=line.order_id,
                lead_id=line.lead_id,
                funnel_id=line.funnel_id,
                currency=line.currency,
                day=line.day,
                gross_minor=0,
                refunds_minor=0,
            )
        fact.gross_minor += line.charged_minor
        fact.refunds_minor += line.refunded_minor
    return list(orders.values())


def _sales_contribution(
    lines: Iterable[LineFact], sign: int, into: dict[str, dict[tuple[Any, ...], list[int]]]
) -> None:
    for line in lines:
        refunded = 1 if line.refunded_minor else 0
        _merge(
            into["sales"],
            (line.funnel_id, line.step_id, line.variant_id, line.offer_id, line.is_bump, line.currency, line.day),
            [1, line.charged_minor, line.refunded_minor, refunded],
            sign,
        )
        if line.visitor_id is not None and line.funnel_id:
            _merge(
                into["visitor"],
                (line.funnel_id, line.visitor_id, line.currency),
                [line.charged_minor - line.refunded_minor],
                sign,
            )


def _orders_contribution(orders: Iterable[OrderFact], sign: int, into: dict[tuple[Any, ...], list[int]]) -> None:
    for order in orders:
        refunded = 1 if order.refunds_minor else 0
        _merge(
            into,
            (order.funnel_id, order.currency, order.day),
            [1, order.gross_minor, order.refunds_minor, refunded],
            sign,
        )


@dataclass(frozen=True, slots=True)
class BuyerState:
    """A lead's standing as a buyer in one currency: their orders with a positive net, by day."""

    currency: str
    purchases: tuple[tuple[dt.date, int], ...]  # (paid day, net) of each order with a positive net

    @property
    def first_day(self) -> dt.date:
        return min(day for day, _ in self.purchases)

    @property
    def last_day(self) -> dt.date:
        return max(day for day, _ in self.purchases)

    @property
    def net_minor(self) -> int:
        return sum(net for _, net in self.purchases)


def buyer_states(orders: Iterable[OrderFact]) -> dict[tuple[int, str], BuyerState]:
    """Each (lead, currency)'s buyer state from its order facts; a lead none of whose orders kept money is absent."""
    purchases: dict[tuple[int, str], list[tuple[dt.date, int]]] = defaultdict(list)
    for order in orders:
        net = order.gross_minor - order.refunds_minor
        if net > 0:
            purchases[(order.lead_id, order.currency)].append((order.day, net))
    return {key: BuyerState(currency=key[1], purchases=tuple(sorted(p))) for key, p in purchases.items()}


def _buyer_contribution(
    states: dict[tuple[int, str], BuyerState],
    sign: int,
    cohorts: dict[tuple[Any, ...], list[int]],
    rfm: dict[tuple[Any, ...], list[int]],
) -> None:
    for (_, currency), state in states.items():
        cohort = month_of(state.first_day)
        months: dict[dt.date, int] = defaultdict(int)
        for day, net in state.purchases:
            months[month_of(day)] += net
        for month, net in months.items():
            _merge(cohorts, (currency, cohort, month), [1, net], sign)
        _merge(rfm, (currency, state.last_day, len(state.purchases)), [1, state.net_minor], sign)


NO_TOUCH = ("(none)", "")


def channel_of(touch: dict[str, str] | None) -> tuple[str, str]:
    """(source, campaign) of a touch: its UTM source and campaign; without a source, the ad platform its click id
    names, else "(direct)"; ``NO_TOUCH`` for a lead with no touch of that kind."""
    if touch is None:
        return NO_TOUCH
    source = touch["utm_source"] or (
        "meta (click id)"
        if touch["fbclid"]
        else "google (click id)"
        if touch["gclid"] or touch["gbraid"] or touch["wbraid"]
        else "(direct)"
    )
    return source[:200], touch["utm_campaign"][:200]


def _lead_facts(lead_ids: Iterable[int]) -> dict[int, LeadFact]:
    ids = list(lead_ids)
    touches: dict[tuple[int, str], dict[str, str]] = {}
    for touch in Touch.objects.filter(lead_id__in=ids).values(
        "lead_id", "kind", "utm_source", "utm_campaign", "fbclid", "gclid", "gbraid", "wbraid"
    ):
        touches[(touch["lead_id"], touch["kind"])] = {k: str(v) for k, v in touch.items()}
    facts = {}
    for lead_id, created_at in Lead.objects.filter(pk__in=ids).values_list("pk", "created_at"):
        first, last = channel_of(touches.get((lead_id, "first"))), channel_of(touches.get((lead_id, "last")))
        facts[lead_id] = LeadFact(
            lead_id=lead_id,
            created_day=local_day(created_at),
            first_source=first[0],
            first_campaign=first[1],
            last_source=last[0],
            last_campaign=last[1],
        )
    return facts


def _lead_key(fact: LeadFact | None) -> tuple[Any, ...] | None:
    if fact is None:
        return None
    return (fact.created_day, fact.first_source, fact.first_campaign, fact.last_source, fact.last_campaign)


def _days_rows(series_days: dict[str, set[dt.date]]) -> list[tuple[str, dt.date, dt.date]]:
    rows = []
    for series, days in series_days.items():
        previous = NO_DAY
        for day in sorted(days):
            rows.append((series, day, previous))
            previous = day
    return rows


def _lead_contribution(
    fact: LeadFact | None,
    orders: Iterable[OrderFact],
    lines: Iterable[LineFact],
    sign: int,
    deltas: dict[str, dict[tuple[Any, ...], list[int]]],
) -> None:
    """A lead's share of the channel rollup and of the distinct-buyer series."""
    if fact is None:
        return
    channels = {
        "first": (fact.first_source, fact.first_campaign),
        "last": (fact.last_source, fact.last_campaign),
    }
    series: dict[str, set[dt.date]] = defaultdict(set)
    for touch, (source, campaign) in channels.items():
        _merge(deltas["channel"], (touch, source, campaign, "", fact.created_day), [1, 0, 0, 0], sign)
    for order in orders:
        series[f"all|{order.currency}"].add(order.day)
        for touch, (source, campaign) in channels.items():
            _merge(
                deltas["channel"],
                (touch, source, campaign, order.currency, order.day),
                [0, 1, order.gross_minor, order.gross_minor - order.refunds_minor],
                sign,
            )
            series[f"channel|{touch}|{source}|{campaign}|{order.currency}"].add(order.day)
    for line in lines:
        series[f"offer|{line.offer_id}|{line.currency}"].add(line.day)
    for row in _days_rows(series):
        _merge(deltas["series"], row, [1], sign)


def _money_apply(order_ids: set[int], lead_ids: set[int]) -> None:
    """Re-derive the facts of ``order_ids`` (and of ``lead_ids``, whose touches may have changed) and fold the
    difference into sales, orders, visitors' values, buyers, cohorts, RFM and channels."""
    ids = sorted(order_ids)
    old_lines = list(LineFact.objects.filter(order_id__in=ids)) if ids else []
    old_orders = list(OrderFact.objects.filter(order_id__in=ids)) if ids else []
    new_lines = _line_facts(ids) if ids else []
    new_orders = _order_facts(new_lines)
    order_leads = {o.lead_id for o in old_orders} | {o.lead_id for o in new_orders}
    candidates = set(lead_ids) | order_leads
    if not candidates:
        return
    old_facts = {f.lead_id: f for f in LeadFact.objects.filter(lead_id__in=candidates)}
    new_facts = _lead_facts(candidates)
    # Most events of known leads change nothing about them (same touches, same day created): skip those leads.
    leads = order_leads | {
        lead_id for lead_id in candidates if _lead_key(old_facts.get(lead_id)) != _lead_key(new_facts.get(lead_id))
    }
    if not leads:
        return
    old_facts = {lead_id: fact for lead_id, fact in old_facts.items() if lead_id in leads}
    new_facts = {lead_id: fact for lead_id, fact in new_facts.items() if lead_id in leads}
    other_orders = list(OrderFact.objects.filter(lead_id__in=leads).exclude(order_id__in=ids))
    other_lines = list(LineFact.objects.filter(lead_id__in=leads).exclude(order_id__in=ids))
    buyers_before = buyer_states([*other_orders, *old_orders])
    buyers_after = buyer_states([*other_orders, *new_orders])

    deltas: dict[str, dict[tuple[Any, ...], list[int]]] = {
        "sales": {},
        "visitor": {},
        "orders": {},
        "cohort": {},
        "rfm": {},
        "channel": {},
        "series": {},
    }
    _sales_contribution(old_lines, -1, deltas)
    _sales_contribution(new_lines, +1, deltas)
    _orders_contribution(old_orders, -1, deltas["orders"])
    _orders_contribution(new_orders, +1, deltas["orders"])
    _buyer_contribution(buyers_before, -1, deltas["cohort"], deltas["rfm"])
    _buyer_contribution(buyers_after, +1, deltas["cohort"], deltas["rfm"])
    by_lead: dict[int, list[list[Any]]] = defaultdict(lambda: [[], [], [], []])  # orders/lines before, after
    for order in other_orders:
        by_lead[order.lead_id][0].append(order)
        by_lead[order.lead_id][2].append(order)
    for line in other_lines:
        by_lead[line.lead_id][1].append(line)
        by_lead[line.lead_id][3].append(line)
    for index, facts in ((0, old_orders), (1, old_lines), (2, new_orders), (3, new_lines)):
        for fact in facts:
            by_lead[fact.lead_id][index].append(fact)
    for lead_id in leads:
        before_orders, before_lines, after_orders, after_lines = by_lead[lead_id]
        _lead_contribution(old_facts.get(lead_id), before_orders, before_lines, -1, deltas)
        _lead_contribution(new_facts.get(lead_id), after_orders, after_lines, +1, deltas)

    if ids:
        LineFact.objects.filter(order_id__in=ids).delete()
        OrderFact.objects.filter(order_id__in=ids).delete()
        LineFact.objects.bulk_create(new_lines, batch_size=2000)
        OrderFact.objects.bulk_create(new_orders, batch_size=2000)
    LeadFact.objects.filter(lead_id__in=leads).delete()
    LeadFact.objects.bulk_create(new_facts.values(), batch_size=2000)
    _add(SalesDay, ["funnel_id", "step_id", "variant_id", "offer_id", "is_bump", "currency", "day"], deltas["sales"])
    _add(VisitorValue, ["funnel_id", "visitor_id", "currency"], deltas["visitor"])
    _add(OrderDay, ["funnel_id", "currency", "day"], deltas["orders"])
    _add(CohortCell, ["currency", "cohort", "month"], deltas["cohort"])
    _add(RfmCell, ["currency", "last_day", "orders"], deltas["rfm"])
    _add(ChannelDay, ["touch", "source", "campaign", "currency", "day"], deltas["channel"])
    _add(LeadSeriesDay, ["series", "day", "prev_day"], deltas["series"])
    Buyer.objects.filter(lead_id__in=leads).delete()
    Buyer.objects.bulk_create(
        [
            Buyer(
                lead_id=lead_id,
                currency=currency,
                first_day=state.first_day,
                last_day=state.last_day,
                orders=len(state.purchases),
                net_minor=state.net_minor,
            )
            for (lead_id, currency), state in buyers_after.items()
        ],
        batch_size=2000,
    )


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
        RollupCursor.objects.get_or_create(name=CURSOR)
        cursor = RollupCursor.objects.select_for_update().get(name=CURSOR)
        # Only the gaps whose events now exist, however many gaps are waiting.
        late = list(
            Event.objects.filter(pk__in=RollupGap.objects.values("event_id"))
            .order_by("pk")
            .values_list(*_EVENT_FIELDS)[:limit]
        )
        RollupGap.objects.filter(event_id__in=[e[0] for e in late]).delete()
        RollupGap.objects.filter(seen_at__lt=now - GAP_EXPIRY).delete()
        fresh = list(Event.objects.filter(pk__gt=cursor.position).order_by("pk").values_list(*_EVENT_FIELDS)[:limit])
        if fresh:
            present = {e[0] for e in fresh}
            # An id far below the log's end was given out long ago: its transaction ended (a rollback, or a
            # duplicate that inserted nothing). Only ids near the end can belong to a transaction still open.
            tip = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            start = max(cursor.position + 1, tip - GAP_WINDOW)
            gaps = [pk for pk in range(start, fresh[-1][0]) if pk not in present]
            RollupGap.objects.bulk_create(
                [RollupGap(event_id=pk, seen_at=now) for pk in gaps], batch_size=5000, ignore_conflicts=True
            )
            cursor.position = fresh[-1][0]
            cursor.save(update_fields=["position", "updated_at"])
        _fold([*late, *fresh])
    return Advance(events=len(late) + len(fresh), position=cursor.position)


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
