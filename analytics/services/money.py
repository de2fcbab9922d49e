"""Money: line, order and lead facts, and the sales, orders, buyers, cohorts, RFM and channels summed from them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from analytics.models import (
    Buyer,
    ChannelDay,
    CohortCell,
    LeadFact,
    LeadSeriesDay,
    LineFact,
    OrderDay,
    OrderFact,
    RfmCell,
    SalesDay,
    VisitorValue,
)
from analytics.services.deltas import (
    NO_DAY,
    PAID_STATUSES,
    _add,
    _merge,
    local_day,
    month_of,
)
from leads.models import Lead, Touch
from offers.models import OrderLine

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
