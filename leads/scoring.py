"""The score log and its decay.

A lead's score is the sum of its log, each entry's points halved for every half-life of its age, rounded to the
nearest whole point (halves up). Each entry is stored with ``weight = points × 2^((occurred_at − SCORE_ANCHOR) / h)``
and ``Lead.score_base`` is the sum of the lead's weights, so the score at ``now`` is ``score_base × 2^(−(now −
SCORE_ANCHOR) / h)``: one factor common to every lead. That is what lets a million leads be filtered and sorted by
today's score in SQL while the score is still, exactly, the decayed sum of its log.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from leads.models import Lead, ScoreEvent, ScoringSettings

SCORE_ANCHOR = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAY = 86_400.0


DEFAULT_HALF_LIFE = 90


def half_life_days() -> int | None:
    """The half-life in days (None: points never fade); the settings row exists from the first migration on."""
    row = ScoringSettings.objects.filter(pk=1).first()
    return row.half_life_days if row is not None else DEFAULT_HALF_LIFE


def _exponent(moment: dt.datetime, half_life: int | None) -> float:
    return 0.0 if not half_life else (moment - SCORE_ANCHOR).total_seconds() / (half_life * DAY)


def weight(points: int, occurred_at: dt.datetime, half_life: int | None) -> float:
    return points * 2.0 ** _exponent(occurred_at, half_life)


# Floating-point slack: an entry exactly one half-life old is worth exactly half its points, which the weighted form
# may compute a hair below; a billionth of a point decides no rounding otherwise.
SLACK = 1e-9


def score_at(base: float, now: dt.datetime, half_life: int | None) -> int:
    """Today's score from ``Lead.score_base``: the decayed sum, to the nearest whole point (halves up)."""
    return math.floor(base * 2.0 ** -_exponent(now, half_life) + 0.5 + SLACK)


def decayed(points: int, occurred_at: dt.datetime, now: dt.datetime, half_life: int | None) -> float:
    """What one entry is worth at ``now`` (for showing the log)."""
    return points * 2.0 ** (_exponent(occurred_at, half_life) - _exponent(now, half_life))


def base_at_least(score: int, now: dt.datetime, half_life: int | None) -> float:
    """The smallest ``score_base`` whose score at ``now`` is ``score`` or more (``score_at`` rounds halves up)."""
    return (score - 0.5 - SLACK) * 2.0 ** _exponent(now, half_life)


def score_q(*, minimum: int | None = None, maximum: int | None = None, now: dt.datetime | None = None) -> Q:
    """Leads whose score now lies in [minimum, maximum]."""
    now = now or timezone.now()
    h = half_life_days()
    q = Q()
    if minimum is not None:
        q &= Q(score_base__gte=base_at_least(minimum, now, h))
    if maximum is not None:
        q &= Q(score_base__lt=base_at_least(maximum + 1, now, h))
    return q


@dataclass(frozen=True, slots=True)
class ScoreEntry:
    lead_id: int
    points: int
    reason: str
    occurred_at: dt.datetime
    key: str
    rule_id: int | None = None
    event_id: int | None = None
    author_id: int | None = None


def score_events_record(*, entries: Sequence[ScoreEntry]) -> list[ScoreEntry]:
    """Add entries to the score log (each ``key`` once, however often it is offered) and bring each lead's
    ``score_base`` back to the sum of its log. Returns the entries that were new."""
    if not entries:
        return []
    h = half_life_days()
    with transaction.atomic():
        keys = [e.key for e in entries]
        known = set(ScoreEvent.objects.filter(key__in=keys).values_list("key", flat=True))
        first: dict[str, ScoreEntry] = {}
        for entry in entries:  # the first offer of a key wins (a once-per-lead rule: the earliest event)
            if entry.key not in known:
                first.setdefault(entry.key, entry)
        new = list(first.values())
        ScoreEvent.objects.bulk_create(
            [
                ScoreEvent(
                    lead_id=e.lead_id,
                    rule_id=e.rule_id,
                    event_id=e.event_id,
                    points=e.points,
                    reason=e.reason[:200],
                    occurred_at=e.occurred_at,
                    weight=weight(e.points, e.occurred_at, h),
                    key=e.key[:200],
                    author_id=e.author_id,
                )
                for e in new
            ],
            batch_size=2000,
            ignore_conflicts=True,
        )
        scores_resum(lead_ids=sorted({e.lead_id for e in new}))
    return new


def scores_resum(*, lead_ids: Sequence[int] | None = None) -> int:
    """Set ``score_base`` to the sum of the log's weights for these leads (all leads: ``None``), in one update."""
    total = (
        ScoreEvent.objects.filter(lead=OuterRef("pk"))
        .order_by()
        .values("lead")
        .annotate(total=Sum("weight"))
        .values("total")
    )
    leads = Lead.objects.all() if lead_ids is None else Lead.objects.filter(pk__in=lead_ids)
    return leads.update(score_base=Coalesce(Subquery(total), Value(0.0)))


def score_events_forget_rules() -> int:
    """Take every rule's entries out of the log, before the rules are applied afresh; a person's entries stay.
    The caller re-sums the leads."""
    removed, _ = ScoreEvent.objects.filter(rule_id__isnull=False).delete()
    return removed


def scores_reweigh(*, half_life: int | None, progress: Callable[[int], None] | None = None) -> int:
    """A new half-life: store it, re-weigh every log entry and re-sum every lead, set-based (two statements)."""
    with transaction.atomic():
        ScoringSettings.objects.update_or_create(pk=1, defaults={"half_life_days": half_life})
        table = ScoreEvent._meta.db_table
        if not half_life:
            expression = "points"
        elif connection.vendor == "postgresql":
            expression = f"points * power(2.0, EXTRACT(EPOCH FROM (occurred_at - %s)) / {half_life * DAY})"
        else:
            expression = f"points * power(2.0, (julianday(occurred_at) - julianday(%s)) / {half_life})"
        with connection.cursor() as cursor:
            params = [] if not half_life else [SCORE_ANCHOR if connection.vendor == "postgresql" else "2026-01-01"]
            # The table and the expression are Ladder's own (the half-life an integer); the anchor is a parameter.
            cursor.execute(f"UPDATE {table} SET weight = {expression}", params)  # noqa: S608
            entries = cursor.rowcount
        if progress is not None:
            progress(entries)
        scores_resum()
    return entries
