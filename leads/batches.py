"""Capture in batches: what the capture inbox queued, written as ``leads.services`` writes each capture, in a handful
of statements a batch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from common.db import insert_ignoring_conflicts, rows_insert, rows_update
from leads.contracts import (
    ATTRIBUTION_FIELDS,
    Identity,
    OptinsWritten,
    QueuedOptin,
)
from leads.identity import email_fingerprint, lead_details
from leads.marks import leads_mark_changed
from leads.models import (
    Consent,
    ConversionOutbox,
    Event,
    Lead,
    Suppression,
    Touch,
)
from leads.services import consents_granted, submitted_details
from leads.touches import touches_choose, visitor_landings


@transaction.atomic
def optins_record_batch(*, optins: Sequence[QueuedOptin]) -> OptinsWritten:
    """Write queued opt-ins as ``lead_capture`` would write each, in a handful of statements for the whole batch.

    In arrival order: an address that asked to be forgotten is refused; each address gets one lead (details merged,
    later ones filling in); each submission's ``optin`` event is recorded once; and for the submissions recorded now,
    their consents, their visitors' earlier events linked to the lead, and first- and last-touch attribution.
    Replaying a batch (after a crash between the commit and the inbox trim) records nothing twice.
    """
    fingerprints = {optin.identity.email: email_fingerprint(optin.identity.email) for optin in optins}
    forgotten = set(
        Suppression.objects.filter(email_sha256__in=set(fingerprints.values())).values_list("email_sha256", flat=True)
    )
    leads = _upsert_leads([o.identity for o in optins if fingerprints[o.identity.email] not in forgotten])
    kept = [o for o in optins if o.identity.email in leads and not leads[o.identity.email].erased]
    # Times and ids as text, once each: the rows are sent as JSON (common.db.rows_insert).
    times = {optin.idempotency_key: optin.occurred_at.isoformat() for optin in kept}
    inserted = dict(
        rows_insert(
            Event,
            [
                {
                    "type": Event.Type.OPTIN,
                    "name": "",
                    "idempotency_key": optin.idempotency_key,
                    "occurred_at": times[optin.idempotency_key],
                    "lead_id": leads[optin.identity.email].pk,
                    "visitor_id": str(optin.visitor_id) if optin.visitor_id else None,
                    "funnel_id": optin.refs.funnel_id,
                    "step_id": optin.refs.step_id,
                    "variant_id": optin.refs.variant_id,
                    "offer_id": optin.refs.offer_id,
                    "order_id": None,
                    "properties": submitted_details(optin.identity),
                }
                for optin in kept
            ],
            conflict_fields=["idempotency_key"],
            returning=("idempotency_key", "id"),
        )
    )
    rows_insert(ConversionOutbox, [{"event_id": event_id, "client": {}} for event_id in inserted.values()])
    new_keys = set(inserted)
    fresh: list[QueuedOptin] = []
    for optin in kept:  # a key sent twice in the batch was inserted once, for its first submission
        if optin.idempotency_key in new_keys:
            new_keys.discard(optin.idempotency_key)
            fresh.append(optin)
    # A submission id already used for another address made a lead here with no opt-in of its own: the API refuses
    # such a submission (409); queued, it is dropped, and the lead it made with it.
    orphans = {optin.identity.email for optin in kept if leads[optin.identity.email].created} - {
        optin.identity.email for optin in fresh
    }
    if orphans:
        Lead.objects.filter(pk__in=[leads[email].pk for email in orphans], events__isnull=True).delete()
    rows_insert(
        Consent,
        [
            grant
            for optin in fresh
            for grant in consents_granted(
                lead_id=leads[optin.identity.email].pk,
                country=leads[optin.identity.email].country,
                answers=optin.consents,
                source=optin.source,
                assume_eea=optin.assume_eea,
                occurred_at=times[optin.idempotency_key],
            )
        ],
    )
    returning: dict[uuid.UUID, int] = {}  # visitor → the lead they became (the first, should one visitor give two)
    for optin in fresh:
        if optin.visitor_id is not None and not optin.visitor_is_new:
            returning.setdefault(optin.visitor_id, leads[optin.identity.email].pk)
    if returning:
        Event.objects.filter(visitor_id__in=list(returning), lead__isnull=True).update(
            lead_id=Case(
                *(When(visitor_id=visitor, then=Value(lead_id)) for visitor, lead_id in returning.items()),
                output_field=models.BigIntegerField(),
            )
        )
    landings = visitor_landings(list(returning))
    firsts: dict[int, dict[str, Any]] = {}
    lasts: dict[int, dict[str, Any]] = {}
    for optin in fresh:
        lead_id = leads[optin.identity.email].pk
        visitor = optin.visitor_id if optin.visitor_id in returning else None
        first, last = touches_choose(landings.get(visitor, []) if visitor else [], optin.attribution)
        if first is not None:
            first = {**first, "occurred_at": first["occurred_at"].isoformat()}
            firsts.setdefault(lead_id, {"lead_id": lead_id, "kind": Touch.Kind.FIRST, **first})
        if last is not None:
            last = {**last, "occurred_at": last["occurred_at"].isoformat()}
            lasts[lead_id] = {"lead_id": lead_id, "kind": Touch.Kind.LAST, **last}
    rows_insert(Touch, list(firsts.values()), conflict_fields=["lead", "kind"])
    rows_insert(
        Touch,
        list(lasts.values()),
        conflict_fields=["lead", "kind"],
        update_fields=[*ATTRIBUTION_FIELDS, "occurred_at"],
    )
    recorded = [(leads[optin.identity.email].pk, optin.refs.step_id) for optin in fresh]
    if recorded:
        leads_mark_changed(lead_ids=[lead_id for lead_id, _ in recorded])
    return OptinsWritten(recorded=recorded, duplicates=len(kept) - len(fresh), refused=len(optins) - len(kept))


# The details a lead holds beyond its address: filled in when empty, never replaced (leads.services._fill_in).
DETAIL_FIELDS = ("phone", "first_name", "last_name", "country", "region", "city", "postal_code", "company_size")


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchLead:
    pk: int
    country: str
    erased: bool
    created: bool = False  # by this batch
    filled: bool = False  # an empty detail of a known lead was filled in


def _upsert_leads(identities: Sequence[Identity]) -> dict[str, BatchLead]:
    """``leads.services._upsert_lead`` for many addresses, by e-mail. The details of one address's submissions are
    merged in order, the first submission of a detail standing and later ones only filling in what is missing."""
    details: dict[str, dict[str, Any]] = {}
    for identity in identities:
        merged = details.setdefault(identity.email, {})
        for name, value in lead_details(identity).items():
            if value:
                merged.setdefault(name, value)
    return leads_upsert(details=details)


def leads_upsert(*, details: dict[str, dict[str, Any]]) -> dict[str, BatchLead]:
    """One lead per address in ``details`` (normalized e-mail → its details, a subset of DETAIL_FIELDS): new ones
    inserted in one statement, known ones given only the details they lack, in one more. The unique index decides
    races with other writers. Erased leads are left as they are."""
    blank: dict[str, Any] = {**dict.fromkeys(DETAIL_FIELDS, ""), "company_size": None}
    created = rows_insert(  # new addresses first (usually all of them): one statement, and no lookups
        Lead,
        [{"email": email, "public_id": str(uuid.uuid4()), **blank, **merged} for email, merged in details.items()],
        conflict_fields=["email"],
        returning=("email", "id"),
    )
    found: dict[str, tuple[int, dict[str, Any], Any]] = {email: (pk, blank, None) for email, pk in created}
    known = [email for email in details if email not in found]
    if known:
        for row in Lead.objects.filter(email__in=known).values("id", "email", "erased_at", *DETAIL_FIELDS):
            found[row["email"]] = (row["id"], {name: row[name] for name in DETAIL_FIELDS}, row["erased_at"])
    changes = []
    now = timezone.now().isoformat()
    filled: set[str] = set()
    for email in known:  # a detail fills in a field the lead lacks and never replaces a known one
        pk, current, erased_at = found[email]
        missing = {name: value for name, value in details[email].items() if not current[name]}
        if erased_at is None and missing:
            filled.add(email)
            changes.append({"id": pk, **current, **missing, "updated_at": now})
    if changes:
        rows_update(Lead, changes, columns=[*DETAIL_FIELDS, "updated_at"])
    made = {email for email, _ in created}
    return {
        email: BatchLead(
            pk=pk,
            country=stored["country"] or details[email].get("country", ""),
            erased=erased_at is not None,
            created=email in made,
            filled=email in filled,
        )
        for email, (pk, stored, erased_at) in found.items()
    }


def events_record_batch(*, events: Sequence[Event]) -> int:
    """Insert the events whose idempotency keys are new, in one statement; returns how many were new."""
    inserted = insert_ignoring_conflicts(events, conflict_fields=["idempotency_key"])
    lead_ids = [event.lead_id for event in events if event.lead_id is not None]
    if inserted and lead_ids:
        leads_mark_changed(lead_ids=lead_ids)
    return len(inserted)
