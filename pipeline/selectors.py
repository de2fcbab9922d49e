"""Reads for the board and "my day": filtered leads, stage columns with counts and weighted value, cards.

A lead's value (docs/metrics.md, "Pipeline") is, per currency, its net revenue so far plus its predicted future
value from the last lifetime-value fit; a column's weighted value is the sum of its leads' values times the stage's
win probability. Currencies are never added together.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum, Window
from django.db.models.functions import Lead as Next
from django.utils import timezone

from analytics.models import Buyer, CustomerValue
from leads import scoring
from leads.models import Event, Lead, Stage, StageMove, Tag, Task
from leads.pipeline import stale_q
from pipeline import totals
from pipeline.models import FitRule, StageTotal, size_range

CARDS_PER_COLUMN = 25
SCORE_LIMIT = 10**6


class FilterInvalid(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class BoardFilters:
    owner: str = ""  # "", "me", "none" or a user id
    funnel: int | None = None
    tag: str = ""
    score_min: int | None = None
    score_max: int | None = None
    stale: bool = False

    def query(self) -> dict[str, str]:
        """The filters as query parameters (for links that keep them)."""
        values = {
            "owner": self.owner,
            "funnel": "" if self.funnel is None else str(self.funnel),
            "tag": self.tag,
            "score_min": "" if self.score_min is None else str(self.score_min),
            "score_max": "" if self.score_max is None else str(self.score_max),
            "stale": "1" if self.stale else "",
        }
        return {k: v for k, v in values.items() if v}


def _whole(params: Any, name: str, errors: dict[str, str]) -> int | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        errors[name] = f"Enter a whole number, not {raw[:40]!r}."
        return None
    if abs(value) > SCORE_LIMIT:
        errors[name] = f"Enter a number between -{SCORE_LIMIT} and {SCORE_LIMIT}."
        return None
    return value


def board_filters(params: Any) -> BoardFilters:
    """Filters from query parameters; raises FilterInvalid naming each bad one."""
    errors: dict[str, str] = {}
    owner = (params.get("owner") or "").strip()
    if owner not in ("", "me", "none") and not (owner.isdigit() and len(owner) < 12):
        errors["owner"] = "Choose me, nobody or a person."
    funnel = _whole(params, "funnel", errors)
    tag = (params.get("tag") or "").strip().lower()[:50]
    score_min, score_max = _whole(params, "score_min", errors), _whole(params, "score_max", errors)
    if score_min is not None and score_max is not None and score_min > score_max:
        errors["score_max"] = "The highest score must not be below the lowest."
    stale = (params.get("stale") or "") in ("1", "on", "true")
    if errors:
        raise FilterInvalid(errors)
    return BoardFilters(owner, funnel, tag, score_min, score_max, stale)


def leads_filtered(filters: BoardFilters, *, user_id: int | None, now: dt.datetime | None = None) -> QuerySet[Lead]:
    now = now or timezone.now()
    leads = Lead.objects.filter(erased_at__isnull=True)
    if filters.owner == "me":
        leads = leads.filter(owner_id=user_id)
    elif filters.owner == "none":
        leads = leads.filter(owner__isnull=True)
    elif filters.owner:
        leads = leads.filter(owner_id=int(filters.owner))
    if filters.funnel is not None:
        leads = leads.filter(Exists(Event.objects.filter(lead=OuterRef("pk"), funnel_id=filters.funnel)))
    if filters.tag:
        leads = leads.filter(tags__name=filters.tag)
    if filters.score_min is not None or filters.score_max is not None:
        leads = leads.filter(scoring.score_q(minimum=filters.score_min, maximum=filters.score_max, now=now))
    if filters.stale:
        leads = leads.filter(stale_q(now=now))
    return leads


@dataclass
class Card:
    lead: Lead
    score: int
    fit: int
    stale: bool
    open_tasks: int
    net: list[tuple[str, int]] = field(default_factory=list)
    predicted: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Column:
    stage: Stage | None
    count: int
    value: list[tuple[str, int]]  # per currency: net so far + predicted
    weighted: list[tuple[str, int]]  # value × win probability, rounded to the minor unit
    cards: list[Card]

    @property
    def more(self) -> int:
        return self.count - len(self.cards)


def _values(leads: QuerySet[Lead]) -> dict[tuple[int | None, str], int]:
    """Σ (net so far + predicted) per (stage, currency) over ``leads``, in one statement: the filtered leads joined to
    the buyers' rollup and to the predictions (a hash join, not a lookup per row)."""
    inner, params = leads.order_by().values("id", "stage_id").query.sql_with_params()
    buyer, value = Buyer._meta.db_table, CustomerValue._meta.db_table
    sql = f"""
        SELECT l.stage_id, m.currency, SUM(m.amount)
        FROM ({inner}) AS l
        JOIN (SELECT lead_id, currency, net_minor AS amount FROM {buyer}
              UNION ALL
              SELECT lead_id, currency, predicted_value_minor FROM {value}) AS m ON m.lead_id = l.id
        GROUP BY l.stage_id, m.currency"""  # noqa: S608  (Ladder's tables; the filter's values are parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {(stage, currency): int(total or 0) for stage, currency, total in cursor.fetchall()}


def _kept(owner: str, user_id: int | None) -> tuple[dict[int | None, int], dict[tuple[int | None, str], int]]:
    """Counts and values per stage from the kept totals (pipeline.totals), for everyone or one owner."""
    rows = StageTotal.objects.all()
    if owner == "me":
        rows = rows.filter(owner_key=user_id or 0)
    elif owner == "none":
        rows = rows.filter(owner_key=0)
    elif owner:
        rows = rows.filter(owner_key=int(owner))
    counts: dict[int | None, int] = defaultdict(int)
    values: dict[tuple[int | None, str], int] = defaultdict(int)
    grouped = (
        rows.order_by()
        .values("stage_key", "currency")
        .annotate(n=Sum("leads"), net=Sum("net_minor"), predicted=Sum("predicted_minor"))
    )
    for row in grouped:
        stage = row["stage_key"] or None
        if row["currency"]:
            if row["net"] or row["predicted"]:
                values[(stage, row["currency"])] += int(row["net"]) + int(row["predicted"])
        elif row["n"]:
            counts[stage] += int(row["n"])
    return dict(counts), dict(values)


def fit_scores(leads: list[Lead]) -> dict[int, int]:
    rules = list(FitRule.objects.all())
    if not rules:
        return {lead.pk: 0 for lead in leads}
    tags: dict[int, set[str]] = defaultdict(set)
    for lead_id, name in Tag.objects.filter(leads__in=leads).values_list("leads__pk", "name"):
        tags[lead_id].add(name)
    return {lead.pk: sum(rule.points for rule in rules if _fits(rule, lead, tags[lead.pk])) for lead in leads}


def _fits(rule: FitRule, lead: Lead, tags: set[str]) -> bool:
    if rule.field == FitRule.Field.COUNTRY:
        return lead.country == rule.value
    if rule.field == FitRule.Field.TAG:
        return rule.value in tags
    bounds = size_range(rule.value)
    if bounds is None or lead.company_size is None:
        return False
    return bounds[0] <= lead.company_size and (bounds[1] is None or lead.company_size <= bounds[1])


def money_by_lead(ids: list[int]) -> tuple[dict[int, list[tuple[str, int]]], dict[int, list[tuple[str, int]]]]:
    """Each lead's net revenue so far and predicted future value, per currency (two queries for any number)."""
    net: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for lead_id, currency, minor in Buyer.objects.filter(lead_id__in=ids).values_list(
        "lead_id", "currency", "net_minor"
    ):
        net[lead_id].append((currency, minor))
    predicted: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for lead_id, currency, minor in CustomerValue.objects.filter(lead_id__in=ids).values_list(
        "lead_id", "currency", "predicted_value_minor"
    ):
        predicted[lead_id].append((currency, minor))
    return net, predicted


def cards_for(leads: list[Lead], *, now: dt.datetime) -> list[Card]:
    half_life = scoring.half_life_days()
    ids = [lead.pk for lead in leads]
    stale = set(Lead.objects.filter(pk__in=ids).filter(stale_q(now=now)).values_list("pk", flat=True))
    tasks = dict(
        Task.objects.filter(lead_id__in=ids, done_at__isnull=True)
        .order_by()
        .values("lead_id")
        .annotate(n=Count("pk"))
        .values_list("lead_id", "n")
    )
    net, predicted = money_by_lead(ids)
    fit = fit_scores(leads)
    return [
        Card(
            lead=lead,
            score=scoring.score_at(lead.score_base, now, half_life),
            fit=fit[lead.pk],
            stale=lead.pk in stale,
            open_tasks=tasks.get(lead.pk, 0),
            net=sorted(net[lead.pk]),
            predicted=sorted(predicted[lead.pk]),
        )
        for lead in leads
    ]


def board(
    filters: BoardFilters, *, user_id: int | None, now: dt.datetime | None = None, per_column: int = CARDS_PER_COLUMN
) -> list[Column]:
    """One column per stage (and one for leads without a stage, when there are any), in stage order."""
    now = now or timezone.now()
    leads = leads_filtered(filters, user_id=user_id, now=now)
    if totals.kept() and filters == BoardFilters(owner=filters.owner):
        counts, values = _kept(filters.owner, user_id)  # the unfiltered board and "my leads": a few kept rows
    else:
        counts = dict(leads.order_by().values("stage").annotate(n=Count("pk")).values_list("stage", "n"))
        values = _values(leads)
    stages: list[Stage | None] = list(Stage.objects.order_by("position"))
    if counts.get(None):
        stages.insert(0, None)
    tops = {
        (stage.pk if stage else None): list(
            leads.filter(stage_filter_q(stage.pk if stage else None))
            .select_related("owner")
            .order_by("-score_base", "-pk")[:per_column]
        )
        for stage in stages
        if counts.get(stage.pk if stage else None)
    }
    cards = {card.lead.pk: card for card in cards_for([lead for top in tops.values() for lead in top], now=now)}
    columns = []
    for stage in stages:
        stage_id = stage.pk if stage else None
        value = sorted((currency, total) for (s, currency), total in values.items() if s == stage_id)
        probability = stage.win_probability if stage else 0
        columns.append(
            Column(
                stage=stage,
                count=counts.get(stage_id, 0),
                value=value,
                weighted=[(currency, _percent_of(total, probability)) for currency, total in value],
                cards=[cards[lead.pk] for lead in tops.get(stage_id, [])],
            )
        )
    return columns


def _percent_of(minor: int, percent: int) -> int:
    """``minor × percent / 100`` to the nearest minor unit, halves to even (as every money figure in the reports)."""
    return round(Fraction(minor * percent, 100))


def owners() -> list[tuple[int, str]]:
    """Active staff who can own leads, for the owner filter and assignment."""
    users = get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")
    return [(u.pk, u.get_full_name() or u.get_username()) for u in users]


def my_day(*, user_id: int, now: dt.datetime | None = None, limit: int = 100) -> dict[str, Any]:
    """A person's overdue and due-today tasks, and their stale leads."""
    now = now or timezone.now()
    end_of_day = timezone.localtime(now).replace(hour=23, minute=59, second=59, microsecond=999999)
    open_tasks = Task.objects.filter(assignee_id=user_id, done_at__isnull=True).select_related("lead")
    return {
        "overdue": list(open_tasks.filter(due_at__lt=now).order_by("due_at")[:limit]),
        "today": list(open_tasks.filter(due_at__gte=now, due_at__lte=end_of_day).order_by("due_at")[:limit]),
        "stale": list(
            Lead.objects.filter(owner_id=user_id, erased_at__isnull=True)
            .filter(stale_q(now=now))
            .select_related("stage")
            .order_by("last_activity_at")[:limit]
        ),
        "stale_count": Lead.objects.filter(owner_id=user_id, erased_at__isnull=True).filter(stale_q(now=now)).count(),
    }


def stage_filter_q(stage_id: int | None) -> Q:
    return Q(stage__isnull=True) if stage_id is None else Q(stage_id=stage_id)


@dataclass(frozen=True, slots=True)
class StageFlow:
    stage: Stage
    entered: int
    moved_on: int
    conversion: float | None
    median_days: float | None  # of the entries that have been left
    left: int


def stage_flow(*, since: dt.datetime, until: dt.datetime) -> list[StageFlow]:
    """Per stage, the entries in [since, until) from the stage history and what came of them (docs/metrics.md,
    "Stage flow"): how many moved on to a later stage, and the median time spent in the stage by those that left."""
    # The whole history of each lead with an entry in the period (its next move may come after the period).
    active = StageMove.objects.filter(occurred_at__gte=since, occurred_at__lt=until).values("lead_id")
    moves = (
        StageMove.objects.filter(lead_id__in=active)
        .annotate(
            next_at=Window(Next("occurred_at"), partition_by=[F("lead_id")], order_by=[F("occurred_at"), F("id")]),
            next_to=Window(Next("to_stage_id"), partition_by=[F("lead_id")], order_by=[F("occurred_at"), F("id")]),
        )
        .order_by()
        .values_list("to_stage_id", "occurred_at", "next_at", "next_to")
    )
    stages = list(Stage.objects.order_by("position"))
    position = {stage.pk: stage.position for stage in stages}
    entered: dict[int, int] = defaultdict(int)
    moved_on: dict[int, int] = defaultdict(int)
    stays: dict[int, list[float]] = defaultdict(list)
    for to_stage, at, next_at, next_to in moves:
        if to_stage is None or not since <= at < until:
            continue
        entered[to_stage] += 1
        if next_at is None:
            continue
        stays[to_stage].append((next_at - at).total_seconds() / 86_400)
        if next_to is not None and position.get(next_to, -1) > position[to_stage]:
            moved_on[to_stage] += 1
    return [
        StageFlow(
            stage=stage,
            entered=entered[stage.pk],
            moved_on=moved_on[stage.pk],
            conversion=moved_on[stage.pk] / entered[stage.pk] if entered[stage.pk] else None,
            median_days=statistics.median(stays[stage.pk]) if stays[stage.pk] else None,
            left=len(stays[stage.pk]),
        )
        for stage in stages
    ]
