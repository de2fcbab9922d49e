"""The pipeline facts a lead carries, and their one writer: stage moves (with their history), tasks, activity.

Rules that decide moves live in the ``pipeline`` app above; they call these, so every move, however made, leaves
the same history row and marks the lead for its audiences.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from leads.marks import leads_mark_changed
from leads.models import Event, Lead, LeadMark, Note, Stage, StageMove, Task

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def leads_stage_move(
    *,
    leads: QuerySet[Lead],
    to_stage: Stage | None,
    by_id: int | None,
    automatic: bool = False,
    reason: str = "",
    now: dt.datetime | None = None,
) -> int:
    """Move the selected leads to ``to_stage`` in three statements however many there are: their history rows and
    their audience marks are inserted from the selection itself (never loaded into Python), then one update. Leads
    already there are left alone (no history row). Returns how many moved."""
    now = now or timezone.now()
    with transaction.atomic():
        target = None if to_stage is None else to_stage.pk
        changing = leads.exclude(stage=target) if target is not None else leads.exclude(stage__isnull=True)
        inner, params = changing.order_by().values("id", "stage_id").query.sql_with_params()
        moment = connection.ops.adapt_datetimefield_value(now)
        history, marks = StageMove._meta.db_table, LeadMark._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""INSERT INTO {history} (lead_id, from_stage_id, to_stage_id, moved_by_id, automatic, reason,
                                          occurred_at)
                    SELECT l.id, l.stage_id, %s, %s, %s, %s, %s FROM ({inner}) AS l""",  # noqa: S608
                [target, by_id, automatic, reason[:200], moment, *params],
            )
            moved = cursor.rowcount
            if not moved:
                return 0
            # "stage" is an audience condition: mark them (as leads_mark_changed does, set-based).
            cursor.execute(
                # "WHERE true": SQLite would otherwise read ON CONFLICT as a join's ON.
                f"""INSERT INTO {marks} (lead_id, marked_at) SELECT l.id, %s FROM ({inner}) AS l WHERE true
                    ON CONFLICT (lead_id) DO UPDATE SET marked_at = EXCLUDED.marked_at""",  # noqa: S608
                [moment, *params],
            )
        # A person's move is activity; a rule's follows an event, which already counted.
        activity = {} if automatic else {"last_activity_at": now}
        Lead.objects.filter(pk__in=changing.values("pk")).update(stage_id=target, updated_at=now, **activity)
    return moved


def leads_owner_set(*, leads: QuerySet[Lead], owner_id: int | None) -> int:
    return leads.exclude(owner_id=owner_id).update(owner_id=owner_id, updated_at=timezone.now())


def note_add(*, lead: Lead, author_id: int | None, body: str) -> Note:
    with transaction.atomic():
        note = Note.objects.create(lead=lead, author_id=author_id, body=body)
        Lead.objects.filter(pk=lead.pk).update(last_activity_at=note.created_at)
    return note


def task_add(
    *,
    lead: Lead,
    title: str,
    due_at: dt.datetime,
    kind: str = Task.Kind.FOLLOW_UP,
    assignee_id: int | None,
    created_by_id: int | None,
) -> Task:
    with transaction.atomic():
        task = Task.objects.create(
            lead=lead, kind=kind, title=title, due_at=due_at, assignee_id=assignee_id, created_by_id=created_by_id
        )
        Lead.objects.filter(pk=lead.pk).update(last_activity_at=task.created_at)
    return task


def task_change(*, task: Task, fields: Sequence[str], now: dt.datetime | None = None) -> Task:
    """Save a person's change to a task; ticking it done (or changing it at all) is activity on the lead."""
    now = now or timezone.now()
    with transaction.atomic():
        task.save(update_fields=list(fields))
        Lead.objects.filter(pk=task.lead_id).update(last_activity_at=now)
    return task


def task_done(*, task: Task, now: dt.datetime | None = None) -> Task:
    now = now or timezone.now()
    task.done_at = now
    return task_change(task=task, fields=["done_at"], now=now)


def leads_activity_refresh(*, lead_ids: Sequence[int]) -> int:
    """Move each lead's ``last_activity_at`` up to its latest event, if that is later (one update)."""
    latest = (
        Event.objects.filter(lead=OuterRef("pk")).order_by().values("lead").annotate(at=Max("occurred_at")).values("at")
    )
    return Lead.objects.filter(pk__in=list(lead_ids)).update(
        last_activity_at=Greatest(
            Coalesce(F("last_activity_at"), Value(EPOCH)), Coalesce(Subquery(latest), Value(EPOCH))
        )
    )


def stale_q(*, now: dt.datetime | None = None) -> Q:
    """Leads in an open stage with a stale limit, quiet past it (no activity since), and no open task."""
    now = now or timezone.now()
    q = Q(pk__in=[])
    for stage_id, days in Stage.objects.filter(is_closed=False, stale_after_days__isnull=False).values_list(
        "pk", "stale_after_days"
    ):
        since = now - dt.timedelta(days=days or 0)
        q |= Q(stage_id=stage_id) & (
            Q(last_activity_at__lt=since) | Q(last_activity_at__isnull=True, created_at__lt=since)
        )
    open_task = Task.objects.filter(lead=OuterRef("pk"), done_at__isnull=True)
    return q & ~Q(Exists(open_task))


@dataclass(frozen=True, slots=True)
class AutoMove:
    lead_id: int
    to_stage_id: int
    reason: str
    occurred_at: dt.datetime


def stage_moves_apply(*, moves: Sequence[AutoMove]) -> int:
    """Apply a rule's moves in order (several leads, several stages): a history row for each move that changes a
    stage, then one update per stage reached. Returns the history rows written."""
    if not moves:
        return 0
    with transaction.atomic():
        lead_ids = sorted({m.lead_id for m in moves})
        current = dict(Lead.objects.filter(pk__in=lead_ids).values_list("pk", "stage_id"))
        history: list[StageMove] = []
        for move in moves:
            if move.lead_id not in current or current[move.lead_id] == move.to_stage_id:
                continue
            history.append(
                StageMove(
                    lead_id=move.lead_id,
                    from_stage_id=current[move.lead_id],
                    to_stage_id=move.to_stage_id,
                    automatic=True,
                    reason=move.reason[:200],
                    occurred_at=move.occurred_at,
                )
            )
            current[move.lead_id] = move.to_stage_id
        StageMove.objects.bulk_create(history, batch_size=5000)
        moved = {m.lead_id for m in history}
        by_stage: dict[int | None, list[int]] = {}
        for lead_id in moved:
            by_stage.setdefault(current[lead_id], []).append(lead_id)
        now = timezone.now()
        for stage_id, ids in by_stage.items():
            Lead.objects.filter(pk__in=ids).update(stage_id=stage_id, updated_at=now)
        leads_mark_changed(lead_ids=sorted(moved))
    return len(history)


def leads_tag(*, leads: QuerySet[Lead], tag_id: int, add: bool) -> int:
    """Add a tag to (or take it from) every selected lead, set-based; audiences that read tags are told."""
    through = Lead.tags.through
    with transaction.atomic():
        ids = list(leads.order_by().values_list("pk", flat=True))
        if add:
            through.objects.bulk_create(
                [through(lead_id=pk, tag_id=tag_id) for pk in ids], batch_size=5000, ignore_conflicts=True
            )
        else:
            through.objects.filter(lead_id__in=ids, tag_id=tag_id).delete()
        for start in range(0, len(ids), 10_000):
            leads_mark_changed(lead_ids=ids[start : start + 10_000])
    return len(ids)
