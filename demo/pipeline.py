"""The demo's pipeline: consents withdrawn and tags, the pipeline's rules over the history, and sales at work."""

from __future__ import annotations

import datetime as dt
import random

from django.utils import timezone

from demo.ladder import (
    EEA,
    _Plan,
)
from leads.models import Consent, Lead, Stage, Tag, Task
from leads.pipeline import leads_owner_set, leads_stage_move, leads_tag, note_add, task_add, task_done
from leads.services import consents_record
from pipeline.services import pipeline_catch_up


def seed_pipeline(
    plans: list[_Plan],
    leads: list[Lead],
    users: dict[str, object],
    stages: dict[str, Stage],
    tags: dict[str, Tag],
    rng: random.Random,
) -> None:
    """What sales and time did to the leads: when each opted in, tags and withdrawals; then the pipeline's rules
    read the event log (scores, last activity, automatic stage moves) and the sales team works the leads through
    the same services the admin uses: owners, moves, notes and tasks."""
    consents: list[Consent] = []
    tagged: dict[str, list[int]] = {name: [] for name in tags}
    for lead, plan in zip(leads, plans, strict=True):
        lead.created_at = plan.created_at  # created_at is set on insert; move it to when the lead opted in
        lead.postal_code = f"{rng.randrange(10000, 99999)}"
        if plan.ad_consent and plan.withdrew_ads:
            consents.append(
                Consent(
                    lead=lead,
                    purpose="ad_audiences",
                    status="withdrawn",
                    wording="Withdrawn by e-mail request.",
                    source="admin",
                    legal_basis=Consent.LegalBasis.CONSENT,
                    eea=plan.country in EEA,
                    occurred_at=plan.created_at + dt.timedelta(days=3),
                )
            )
        tagged["ebook"].append(lead.pk)
        if plan.bought:
            tagged["buyer"].append(lead.pk)
        if len(plan.bought) >= 4:
            tagged["vip"].append(lead.pk)
        if plan.refund:
            tagged["refunded"].append(lead.pk)
    Lead.objects.bulk_update(leads, ["created_at", "postal_code"], batch_size=500)  # the history's own dates
    consents_record(consents=consents)  # withdrawals, as the admin records them
    for name, lead_ids in tagged.items():  # as the lead list's "Add a tag" action does
        leads_tag(leads=Lead.objects.filter(pk__in=lead_ids), tag_id=tags[name].pk, add=True)
    pipeline_catch_up()  # the stage and scoring rules over the whole log, as beat would have applied them
    _work_the_leads(plans, leads, users, stages, rng)


def _work_the_leads(
    plans: list[_Plan], leads: list[Lead], users: dict[str, object], stages: dict[str, Stage], rng: random.Random
) -> None:
    """Sales at work: owners for the leads worth a call, moves by hand, notes, tasks (some overdue, some done)."""
    sellers = [users["sales"], users["sales2"]]
    now = timezone.now()
    by_stage = dict(Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("pk", "stage__name"))
    for lead, plan in zip(leads, plans, strict=True):
        stage = by_stage.get(lead.pk)
        worth_a_call = stage in ("Customer", "Won") or (stage == "New" and rng.random() < 0.15)
        if not worth_a_call or rng.random() < 0.35:
            continue
        seller = sellers[lead.pk % 2]
        one = Lead.objects.filter(pk=lead.pk)
        leads_owner_set(leads=one, owner_id=seller.pk)  # type: ignore[attr-defined]
        called = min(plan.created_at + dt.timedelta(days=rng.randrange(1, 6)), now)
        roll = rng.random()
        if stage == "New" and roll < 0.5:
            move = "Engaged" if roll < 0.35 else "Lost"
            leads_stage_move(leads=one, to_stage=stages[move], by_id=seller.pk, reason="after a call", now=called)  # type: ignore[attr-defined]
        elif stage == "Customer" and roll < 0.4:
            move = "Qualified" if roll < 0.25 else "Proposal"
            leads_stage_move(leads=one, to_stage=stages[move], by_id=seller.pk, reason="after a call", now=called)  # type: ignore[attr-defined]
        if rng.random() < 0.5:
            note_add(lead=lead, author_id=seller.pk, body=rng.choice(NOTES))  # type: ignore[attr-defined]
        if stage in ("New", "Customer") and rng.random() < 0.6:
            due = now + dt.timedelta(days=rng.randrange(-6, 8), hours=rng.randrange(0, 8))
            task = task_add(
                lead=lead,
                title=rng.choice(TASKS),
                due_at=due,
                kind=rng.choice(list(Task.Kind.values)),
                assignee_id=seller.pk,  # type: ignore[attr-defined]
                created_by_id=seller.pk,  # type: ignore[attr-defined]
            )
            if due < now and rng.random() < 0.5:
                task_done(task=task, now=due)


NOTES = (
    "Called: interested in the course bundle.",
    "Left a voicemail; will try again Thursday.",
    "Asked about a team licence for three people.",
    "Bought the tripwire, wants to know if the course has a payment plan.",
    "Not now: revisit next quarter.",
)
TASKS = (
    "Call about the course",
    "Send the payment-plan details",
    "Follow up on the workshop booking",
    "Check in after the tripwire",
)
