"""Telling other systems about hot leads and stage changes: signed webhooks, sent at least once, in order of cause.

``hooks_collect`` reads the stage history and the score log past their own cursors (gap-safe, ``leads.log``), so
every move — board, lead page, bulk action, API, rule — and every score entry is seen exactly once, and writes one
``HookDelivery`` per active webhook that wants it, in the same transaction that moves the cursors. A lead turns
*hot* when its score reaches the hot score (Pipeline settings) and was below it without the entries just read; it is
remembered (``HotLead``) until it cools below the mark, so a rebuilt score does not make it hot twice.
``hooks_deliver`` POSTs what is due, signed as the audience webhook is, with the same ``Ladder-Delivery`` id on
every retry; the payload is built when sent, so an erased lead's events are dropped rather than sent.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from integrations.errors import IntegrationPermanentError, IntegrationTransientError
from integrations.webhook.upload import signed_post
from leads import scoring
from leads.log import log_read
from leads.models import Lead, ScoreEvent, Stage, StageMove
from pipeline.models import (
    HookDelivery,
    HookMoveGap,
    HookScoreGap,
    HotLead,
    LeadWebhook,
    PipelineCursor,
    PipelineSettings,
)

MOVES, SCORES = "hooks:moves", "hooks:scores"
BATCH = 2000
MAX_ATTEMPTS = 12  # about a day of backoff: 1, 2, 4 … minutes, at most an hour apart
TIMEOUT = (5.0, 15.0)
USER_AGENT = "Ladder-Lead-Hooks/1"


def _cursor_at_tip(name: str, log: Any) -> None:
    """A new cursor starts at the end of its log: webhooks hear of what happens from now on, not of the past."""
    if not PipelineCursor.objects.filter(name=name).exists():
        tip = log.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        PipelineCursor.objects.get_or_create(name=name, defaults={"position": tip})


def hooks_collect(*, now: dt.datetime | None = None, limit: int = BATCH) -> int:
    """Read new stage moves and score entries and write the deliveries they call for; returns how many."""
    now = now or timezone.now()
    _cursor_at_tip(MOVES, StageMove)
    _cursor_at_tip(SCORES, ScoreEvent)
    with transaction.atomic():
        hooks = list(LeadWebhook.objects.filter(is_active=True))
        moves = log_read(
            cursor_model=PipelineCursor,
            gap_model=HookMoveGap,
            name=MOVES,
            fields=(
                "pk",
                "lead_id",
                "from_stage_id",
                "to_stage_id",
                "moved_by_id",
                "automatic",
                "reason",
                "occurred_at",
            ),
            limit=limit,
            now=now,
            source=StageMove,
        ).rows
        entries = log_read(
            cursor_model=PipelineCursor,
            gap_model=HookScoreGap,
            name=SCORES,
            fields=("pk", "lead_id", "weight", "occurred_at"),
            limit=limit,
            now=now,
            source=ScoreEvent,
        ).rows
        deliveries = _stage_deliveries(hooks, moves, now) + _hot_deliveries(hooks, entries, now)
        HookDelivery.objects.bulk_create(deliveries, batch_size=1000)
    return len(deliveries)


def _stage_deliveries(
    hooks: list[LeadWebhook], moves: Sequence[tuple[Any, ...]], now: dt.datetime
) -> list[HookDelivery]:
    wanted = [hook for hook in hooks if hook.on_stage_change]
    return [
        HookDelivery(
            webhook=hook,
            kind=HookDelivery.Kind.STAGE_CHANGED,
            lead_id=lead_id,
            details={"from": from_id, "to": to_id, "by": by_id, "automatic": automatic, "reason": reason},
            occurred_at=at,
            next_attempt_at=now,
        )
        for _, lead_id, from_id, to_id, by_id, automatic, reason, at in moves
        for hook in wanted
    ]


def _hot_deliveries(
    hooks: list[LeadWebhook], entries: Sequence[tuple[Any, ...]], now: dt.datetime
) -> list[HookDelivery]:
    """Leads the new entries took to the hot score (remembered), and leads that cooled (forgotten)."""
    if not entries:
        return []
    added: dict[int, float] = defaultdict(float)
    for _, lead_id, weight, _ in entries:
        added[lead_id] += weight
    mark = PipelineSettings.objects.get_or_create(pk=1)[0].hot_score
    half_life = scoring.half_life_days()
    bases = dict(Lead.objects.filter(pk__in=list(added), erased_at=None).values_list("pk", "score_base"))
    known = set(HotLead.objects.filter(lead_id__in=list(bases)).values_list("lead_id", flat=True))
    hot, turned, cooled = [], [], []
    for lead_id, base in bases.items():
        score = scoring.score_at(base, now, half_life)
        if score < mark:
            cooled.append(lead_id)
            continue
        if lead_id not in known:
            hot.append(HotLead(lead_id=lead_id, since=now))
            if scoring.score_at(base - added[lead_id], now, half_life) < mark:
                turned.append((lead_id, score))
    HotLead.objects.filter(lead_id__in=cooled).delete()
    HotLead.objects.bulk_create(hot, ignore_conflicts=True)
    wanted = [hook for hook in hooks if hook.on_hot]
    return [
        HookDelivery(
            webhook=hook,
            kind=HookDelivery.Kind.HOT,
            lead_id=lead_id,
            details={"score": score, "hot_score": mark},
            occurred_at=now,
            next_attempt_at=now,
        )
        for lead_id, score in turned
        for hook in wanted
    ]


# --- sending -------------------------------------------------------------------------------------------------------


def _payload(delivery: HookDelivery, lead: Lead, stages: dict[int, str]) -> dict[str, Any]:
    webhook = delivery.webhook
    about: dict[str, Any] = {
        "id": str(lead.public_id),
        "url": settings.PUBLIC_BASE_URL.rstrip("/") + reverse("admin:leads_lead_change", args=[lead.pk]),
        "stage": lead.stage.name if lead.stage else None,
        "owner": lead.owner.get_username() if lead.owner else None,
        "score": scoring.score_at(lead.score_base, timezone.now(), scoring.half_life_days()),
    }
    if webhook.include_contact:
        about.update(email=lead.email, first_name=lead.first_name, last_name=lead.last_name, phone=lead.phone)
    body: dict[str, Any] = {
        "type": delivery.kind,
        "id": str(delivery.delivery_id),
        "occurred_at": delivery.occurred_at.isoformat(),
        "lead": about,
    }
    details = delivery.details
    if delivery.kind == HookDelivery.Kind.STAGE_CHANGED:
        mover = details.get("by")
        body["stage_change"] = {
            "from": stages.get(details.get("from") or 0),
            "to": stages.get(details.get("to") or 0),
            "automatic": bool(details.get("automatic")),
            "by": _username(mover) if mover else None,
            "reason": details.get("reason", ""),
        }
    else:
        body["hot"] = {"score": details.get("score"), "hot_score": details.get("hot_score")}
    return body


def _username(user_id: int) -> str | None:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=user_id).values_list("username", flat=True).first()


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


def hooks_deliver(*, limit: int = 200, now: dt.datetime | None = None, session: requests.Session | None = None) -> int:
    """Send up to ``limit`` due deliveries, oldest cause first, each in its own transaction (the row is locked while
    it is sent, so two runs never send one twice at once); returns how many were taken by their receivers."""
    now = now or timezone.now()
    session = session or requests.Session()
    stages = dict(Stage.objects.values_list("pk", "name"))
    due = list(
        HookDelivery.objects.filter(status=HookDelivery.Status.PENDING, next_attempt_at__lte=now)
        .order_by("occurred_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for pk in due:
        with transaction.atomic():
            delivery = (
                HookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("webhook", "lead__stage", "lead__owner")
                .filter(pk=pk, status=HookDelivery.Status.PENDING)
                .first()
            )
            if delivery is None:
                continue
            sent += _send(delivery, stages, session)
    return sent


def _send(delivery: HookDelivery, stages: dict[int, str], session: requests.Session) -> int:
    webhook, lead = delivery.webhook, delivery.lead
    if lead.erased_at is not None or not webhook.is_active:
        delivery.status = HookDelivery.Status.DROPPED
        delivery.reason = "The lead was erased." if lead.erased_at else "The webhook was switched off."
        delivery.save(update_fields=["status", "reason"])
        return 0
    body = json.dumps(_payload(delivery, lead, stages), separators=(",", ":"), sort_keys=True).encode()
    delivery.attempts += 1
    try:
        signed_post(
            session,
            webhook.url,
            webhook.secret,
            body,
            delivery=str(delivery.delivery_id),
            timestamp=int(time.time()),
            timeout=TIMEOUT,
            headers={"Ladder-Event": delivery.kind},
            user_agent=USER_AGENT,
        )
    except IntegrationTransientError as error:
        delivery.reason = str(error)[:300]
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = HookDelivery.Status.FAILED
        delivery.next_attempt_at = timezone.now() + _backoff(delivery.attempts)
    except IntegrationPermanentError as error:
        delivery.reason = str(error)[:300]
        delivery.status = HookDelivery.Status.FAILED
    else:
        delivery.status = HookDelivery.Status.SENT
        delivery.sent_at = timezone.now()
        delivery.reason = ""
    delivery.save(update_fields=["status", "attempts", "next_attempt_at", "reason", "sent_at"])
    return int(delivery.status == HookDelivery.Status.SENT)


def hooks_run() -> int:
    """Beat, every ten seconds: collect, then send what is due."""
    hooks_collect()
    return hooks_deliver()
