"""The pipeline's rules at work: scoring and stage moves from the event log (read past a cursor, so nothing is missed
and nothing is counted twice), inactivity points, and rebuilding every score after a rule change."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from leads import scoring
from leads.log import log_read
from leads.models import Event, Lead, Stage, StageMove
from leads.pipeline import AutoMove, leads_activity_refresh, leads_owner_set, stage_moves_apply
from offers.models import Order
from pipeline.models import AssignmentRule, PipelineCursor, PipelineGap, PipelineSettings, ScoreRule, StageRule

CURSOR = "events"
BATCH = 5000
_FIELDS = ("pk", "type", "name", "lead_id", "order_id", "occurred_at", "properties", "funnel_id")


def pipeline_settings() -> PipelineSettings:
    return PipelineSettings.objects.get_or_create(pk=1)[0]


# --- scoring -------------------------------------------------------------------------------------------------------


def rule_events(rule: ScoreRule) -> QuerySet[Event]:
    """The events an event rule gives points for, in the audiences' vocabulary (type, funnel, step, offer, role)."""
    events = Event.objects.filter(type=rule.event_type, lead__isnull=False)
    if rule.event_type == Event.Type.CUSTOM:
        events = events.filter(name=rule.event_name)
    if rule.funnel_id:
        events = events.filter(funnel_id=rule.funnel_id)
    if rule.step_id:
        events = events.filter(step_id=rule.step_id)
    if rule.offer_id:
        events = events.filter(offer_id=rule.offer_id)
    if rule.role:
        events = events.filter(properties__role=rule.role)
    return events


def _entries(rule: ScoreRule, rows: Iterable[tuple[int, int, dt.datetime]]) -> list[scoring.ScoreEntry]:
    return [
        scoring.ScoreEntry(
            lead_id=lead_id,
            points=rule.points,
            reason=rule.reason,
            occurred_at=occurred_at,
            key=f"rule:{rule.pk}:lead:{lead_id}" if rule.once_per_lead else f"rule:{rule.pk}:event:{pk}",
            rule_id=rule.pk,
            event_id=pk,
        )
        for pk, lead_id, occurred_at in rows
    ]


def _score(event_ids: Sequence[int]) -> int:
    entries: list[scoring.ScoreEntry] = []
    for rule in ScoreRule.objects.filter(is_active=True, kind=ScoreRule.Kind.EVENT):
        rows = rule_events(rule).filter(pk__in=event_ids).order_by("occurred_at", "pk")
        entries += _entries(rule, rows.values_list("pk", "lead_id", "occurred_at"))
    entries.sort(key=lambda e: (e.occurred_at, e.event_id or 0))
    return len(scoring.score_events_record(entries=entries))


def scores_inactivity(*, now: dt.datetime | None = None) -> int:
    """Points for going quiet: once per quiet spell (a lead active again and quiet again earns them again), for
    leads in open stages or none."""
    now = now or timezone.now()
    written = 0
    for rule in ScoreRule.objects.filter(is_active=True, kind=ScoreRule.Kind.INACTIVITY):
        days = dt.timedelta(days=rule.inactive_days or 0)
        quiet = (
            Lead.objects.filter(last_activity_at__lt=now - days, erased_at__isnull=True)
            .exclude(stage__is_closed=True)
            .order_by("pk")
            .values_list("pk", "last_activity_at")
        )
        chunk: list[scoring.ScoreEntry] = []
        for lead_id, last in quiet.iterator(chunk_size=5000):
            if last is None:  # excluded by the filter; for the type checker
                continue
            chunk.append(
                scoring.ScoreEntry(
                    lead_id=lead_id,
                    points=rule.points,
                    reason=rule.reason,
                    occurred_at=last + days,
                    key=f"rule:{rule.pk}:quiet:{lead_id}:{last.isoformat()}",
                    rule_id=rule.pk,
                )
            )
            if len(chunk) == 5000:
                written += len(scoring.score_events_record(entries=chunk))
                chunk = []
        written += len(scoring.score_events_record(entries=chunk))
    return written


def scores_rebuild(*, progress: Callable[[int, str], None] | None = None) -> int:
    """Every rule's entries recomputed from the whole event log (after a rule changed): the rules' old entries go,
    each rule's events are inserted in batches, every lead is re-summed. A person's entries stay. Holds the
    cursor, so the log is not read meanwhile."""
    total = 0
    with transaction.atomic():
        PipelineCursor.objects.get_or_create(name=CURSOR)
        PipelineCursor.objects.select_for_update().get(name=CURSOR)
        scoring.score_events_forget_rules()
        for rule in ScoreRule.objects.filter(is_active=True, kind=ScoreRule.Kind.EVENT):
            rows = rule_events(rule).order_by("occurred_at", "pk").values_list("pk", "lead_id", "occurred_at")
            batch: list[tuple[int, int, dt.datetime]] = []
            for row in rows.iterator(chunk_size=BATCH):
                batch.append(row)
                if len(batch) == BATCH:
                    total += len(scoring.score_events_record(entries=_entries(rule, batch)))
                    if progress is not None:
                        progress(len(batch), rule.reason)
                    batch = []
            total += len(scoring.score_events_record(entries=_entries(rule, batch)))
            if progress is not None:
                progress(len(batch), rule.reason)
        total += scores_inactivity()
        scoring.scores_resum()
    return total


# --- stage moves ---------------------------------------------------------------------------------------------------


def _triggers(event: tuple[Any, ...], refunded: set[int]) -> list[tuple[str, str]]:
    """What an event can trigger: (trigger, ladder role)."""
    _, type_, _, _, order_id, _, properties, _ = event
    if type_ == Event.Type.OPTIN:
        return [(StageRule.Trigger.OPTIN, "")]
    if type_ == Event.Type.IMPORTED:
        return [(StageRule.Trigger.IMPORTED, "")]
    if type_ == Event.Type.PURCHASE:
        return [(StageRule.Trigger.PURCHASE, (properties or {}).get("role", ""))]
    if type_ in (Event.Type.REFUND, Event.Type.CHARGEBACK) and order_id in refunded:
        return [(StageRule.Trigger.FULL_REFUND, "")]
    return []


def _stage_moves(events: Sequence[tuple[Any, ...]]) -> list[AutoMove]:
    rules = list(StageRule.objects.filter(is_active=True).select_related("stage"))
    if not rules or not events:
        return []
    settings = pipeline_settings()
    lead_ids = sorted({e[3] for e in events})
    stage = dict(Lead.objects.filter(pk__in=lead_ids).values_list("pk", "stage_id"))
    positions = dict(Stage.objects.values_list("pk", "position"))
    lost = set(Stage.objects.filter(is_closed=True, win_probability=0).values_list("pk", flat=True))
    manual = dict(
        StageMove.objects.filter(lead_id__in=lead_ids, automatic=False)
        .order_by()
        .values("lead_id")
        .annotate(at=Max("occurred_at"))
        .values_list("lead_id", "at")
    )
    orders = {e[4] for e in events if e[1] in (Event.Type.REFUND, Event.Type.CHARGEBACK) and e[4]}
    refunded = set(Order.objects.filter(pk__in=orders, status=Order.Status.REFUNDED).values_list("pk", flat=True))
    came_from: dict[int, list[int | None]] = {}
    moves: list[AutoMove] = []
    wins = dt.timedelta(days=settings.manual_wins_days)
    for event in events:
        lead_id, occurred_at = event[3], event[5]
        if lead_id not in stage or (lead_id in manual and manual[lead_id] >= occurred_at - wins):
            continue  # a person moved this lead lately (or after this event): their move stands
        for trigger, role in _triggers(event, refunded):
            for rule in rules:
                if rule.trigger != trigger or (rule.role and rule.role != role):
                    continue
                refund = rule.trigger == StageRule.Trigger.FULL_REFUND
                before = _before(lead_id, stage[lead_id], came_from) if refund else None
                target = _target(rule, stage[lead_id], positions, lost, before)
                if target is None:
                    continue
                current = stage[lead_id]
                moves.append(AutoMove(lead_id, target, f"rule: {rule}", occurred_at))
                came_from.setdefault(lead_id, []).append(current)
                stage[lead_id] = target
    return moves


def _target(
    rule: StageRule, current: int | None, positions: dict[int, int], lost: set[int], before: int | None
) -> int | None:
    """Where a rule takes a lead from ``current``, or None. Rules move a lead forward only (a lead without a stage
    or in a lost stage, closed at 0 %, goes wherever the rule says); a full refund moves it back."""
    if rule.trigger == StageRule.Trigger.FULL_REFUND:
        target = rule.stage_id or before
        if target is None or current is None or positions[target] >= positions[current]:
            return None
        return target
    target = rule.stage_id
    if target is None or target == current:
        return None
    if current is None or current in lost:
        return target
    return target if positions[target] > positions[current] else None


def _before(lead_id: int, current: int | None, came_from: dict[int, list[int | None]]) -> int | None:
    """The stage a lead was in before it reached its current one."""
    if came_from.get(lead_id):
        return came_from[lead_id][-1]
    if current is None:
        return None
    last = StageMove.objects.filter(lead_id=lead_id, to_stage_id=current).order_by("-occurred_at", "-pk").first()
    return last.from_stage_id if last is not None else None


# --- assignment --------------------------------------------------------------------------------------------------


def _sellers() -> list[int]:
    """Active staff in the sales group, in a fixed order: the round-robin's turn."""
    users = get_user_model().objects.filter(is_active=True, is_staff=True, groups__name="sales")
    return list(users.order_by("pk").values_list("pk", flat=True).distinct())


def _assign(optins: Sequence[tuple[Any, ...]]) -> int:
    """Owners for leads that opt in (or are imported) without one: the first matching assignment rule, else
    (round-robin on) the next seller in turn. One update per owner chosen."""
    if not optins:
        return 0
    lead_ids = sorted({e[3] for e in optins})
    unowned = dict(Lead.objects.filter(pk__in=lead_ids, owner__isnull=True).values_list("pk", "country"))
    if not unowned:
        return 0
    rules = list(AssignmentRule.objects.filter(owner__is_active=True))
    settings = PipelineSettings.objects.select_for_update().get_or_create(pk=1)[0]
    sellers = _sellers() if settings.round_robin else []
    funnel_of = {e[3]: e[7] for e in optins}
    turn = settings.last_assigned_id
    chosen: dict[int, list[int]] = defaultdict(list)
    for lead_id in sorted(unowned):
        country, funnel = unowned[lead_id], funnel_of.get(lead_id)
        owner = next(
            (
                r.owner_id
                for r in rules
                if (not r.country or r.country == country) and (r.funnel_id is None or r.funnel_id == funnel)
            ),
            None,
        )
        if owner is None and sellers:
            later = [pk for pk in sellers if turn is None or pk > turn]
            owner = turn = later[0] if later else sellers[0]
        if owner is not None:
            chosen[owner].append(lead_id)
    for owner, ids in chosen.items():
        leads_owner_set(leads=Lead.objects.filter(pk__in=ids, owner__isnull=True), owner_id=owner)
    if turn != settings.last_assigned_id:
        PipelineSettings.objects.filter(pk=1).update(last_assigned_id=turn)
    return sum(len(ids) for ids in chosen.values())


# --- following the log --------------------------------------------------------------------------------------------


def pipeline_advance(*, limit: int = BATCH, now: dt.datetime | None = None) -> int:
    """Read up to ``limit`` new events and apply the pipeline's rules to them, in one transaction: each lead's last
    activity, score entries, automatic stage moves. Returns how many events were read."""
    now = now or timezone.now()
    with transaction.atomic():
        read = log_read(
            cursor_model=PipelineCursor, gap_model=PipelineGap, name=CURSOR, fields=_FIELDS, limit=limit, now=now
        )
        events = sorted((e for e in read.rows if e[3] is not None), key=lambda e: (e[5], e[0]))
        if events:
            leads_activity_refresh(lead_ids=sorted({e[3] for e in events}))
            _score([e[0] for e in events])
            stage_moves_apply(moves=_stage_moves(events))
            _assign([e for e in events if e[1] in (Event.Type.OPTIN, Event.Type.IMPORTED)])
    return len(read.rows)


def pipeline_catch_up(*, limit: int = BATCH, progress: Callable[[int], None] | None = None) -> int:
    total = 0
    while True:
        read = pipeline_advance(limit=limit)
        total += read
        if progress is not None:
            progress(read)
        if read < limit:
            return total


def rule_events_total() -> int:
    """How many events the active event rules match: the work a rebuild does (for its progress bar)."""
    return sum(
        rule_events(rule).count() for rule in ScoreRule.objects.filter(is_active=True, kind=ScoreRule.Kind.EVENT)
    )
