"""Writes for leads: capture, consent, the event log."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from common.db import insert_ignoring_conflicts
from common.errors import ApplicationError, ConflictError
from leads.contracts import (
    Attribution,
    Capture,
    ClientContext,
    ConsentAnswer,
    EventRefs,
    Identity,
)
from leads.identity import EEA_COUNTRIES, email_fingerprint, identity_normalize, lead_details
from leads.marks import leads_mark_changed
from leads.models import (
    Consent,
    ConversionOutbox,
    Event,
    Lead,
    Note,
    Suppression,
    Touch,
)
from leads.touches import touches_record

# Events reported to the conversions destinations (Meta's Lead and Purchase).
CONVERSION_TYPES = frozenset({Event.Type.OPTIN, Event.Type.PURCHASE})


def _upsert_lead(identity: Identity) -> tuple[Lead, bool]:
    """One lead per normalized e-mail, even when two requests race: the unique index decides."""
    defaults = lead_details(identity)
    candidate = Lead(email=identity.email, **defaults)
    inserted = insert_ignoring_conflicts([candidate], conflict_fields=["email"])
    created = bool(inserted)
    if created:  # the instance already holds every stored value (defaults, and timestamps from pre_save)
        candidate.pk = inserted[0]
        candidate._state.adding = False
        lead = candidate
    else:
        lead = Lead.objects.get(email=identity.email)
    if not created:
        changed = _fill_in(lead, defaults)
        if changed:
            lead.save(update_fields=[*changed, "updated_at"])
    return lead, created


def submitted_details(identity: Identity) -> dict[str, Any]:
    """What a capture submitted beyond the address, for its opt-in event (a known lead keeps its own details)."""
    typed = {name: value for name, value in lead_details(identity).items() if value and name != "country"}
    return {"submitted": typed} if typed else {}


def _fill_in(lead: Lead, details: dict[str, str]) -> list[str]:
    """Submitted details fill in what the lead lacks and never replace what is known: a capture form is public, so
    whoever types a known address must not rewrite that person's name or phone (what they typed is kept on their
    opt-in event instead). Returns what changed."""
    changed = [name for name, value in details.items() if value and not getattr(lead, name)]
    for name in changed:
        setattr(lead, name, details[name])
    return changed


def event_record(
    *,
    type: str,
    idempotency_key: str,
    occurred_at: dt.datetime | None = None,
    lead: Lead | None = None,
    visitor_id: uuid.UUID | None = None,
    refs: EventRefs | None = None,
    name: str = "",
    properties: dict[str, Any] | None = None,
    client: ClientContext | dict[str, str] | None = None,
) -> tuple[Event, bool]:
    """Append one event unless its idempotency key is already recorded; returns (event, created). A lead's opt-in
    or purchase is also put in the conversions outbox, in the same transaction, with the browser's ``client``."""
    refs = refs or EventRefs()
    defaults = {
        "type": type,
        "name": name,
        "lead": lead,
        "visitor_id": visitor_id,
        "funnel_id": refs.funnel_id,
        "step_id": refs.step_id,
        "variant_id": refs.variant_id,
        "offer_id": refs.offer_id,
        "order_id": refs.order_id,
        "occurred_at": occurred_at or timezone.now(),
        "properties": properties or {},
    }
    conversion = lead is not None and type in CONVERSION_TYPES
    with transaction.atomic() if conversion else contextlib.nullcontext():  # the event and its report, or neither
        inserted = insert_ignoring_conflicts(
            [Event(idempotency_key=idempotency_key, **defaults)], conflict_fields=["idempotency_key"]
        )
        if inserted and conversion:
            context = client.as_dict() if isinstance(client, ClientContext) else dict(client or {})
            ConversionOutbox.objects.create(event_id=inserted[0], client=context)
    if inserted:
        if lead is not None:
            leads_mark_changed(lead_ids=[lead.pk])
        return Event(pk=inserted[0], idempotency_key=idempotency_key, **defaults), True
    return Event.objects.get(idempotency_key=idempotency_key), False


def consents_granted(
    *,
    lead_id: int,
    country: str,
    answers: Sequence[ConsentAnswer],
    source: str,
    assume_eea: bool,
    occurred_at: dt.datetime | str,
) -> list[dict[str, Any]]:
    """The ticked boxes as consent rows, each with its exact wording; EEA rules by the lead's country if known."""
    eea = (country in EEA_COUNTRIES) if country else assume_eea
    return [
        {
            "lead_id": lead_id,
            "purpose": answer.purpose,
            "status": Consent.Status.GRANTED,
            "wording": answer.wording,
            "source": source,
            "legal_basis": Consent.LegalBasis.CONSENT,
            "eea": eea,
            "occurred_at": occurred_at,
        }
        for answer in answers
        if answer.granted
    ]


@transaction.atomic
def consents_record(*, consents: Sequence[Consent]) -> list[Consent]:
    """Record consents given or withdrawn outside a capture (the admin, a withdrawal by phone or e-mail), each as its
    own append-only row, and mark their leads so the audiences hear of it now: someone who withdrew ad consent is
    taken out of every destination at the refresher's next pass, not at the audience's next full rebuild."""
    recorded = Consent.objects.bulk_create(consents, batch_size=1000)
    leads_mark_changed(lead_ids=[consent.lead_id for consent in recorded])
    return recorded


@transaction.atomic
def lead_capture(
    *,
    email: str,
    idempotency_key: str,
    source: str,
    phone: str = "",
    first_name: str = "",
    last_name: str = "",
    default_country: str = "",
    assume_eea: bool = True,
    consents: Sequence[ConsentAnswer] = (),
    visitor_id: uuid.UUID | None = None,
    visitor_is_new: bool = False,
    attribution: Attribution | None = None,
    refs: EventRefs | None = None,
    occurred_at: dt.datetime | None = None,
    client: ClientContext | None = None,
) -> Capture:
    """Turn a submitted opt-in into a lead, atomically.

    Normalizes the e-mail and phone (E.164 with ``default_country``), upserts the lead by normalized e-mail
    (two concurrent posts of one address make one lead), records the ``optin`` event under
    ``idempotency_key`` (a double submit records nothing more), and only for a new submission: each ticked
    consent with its exact wording, the first- and last-touch attribution, and the visitor's earlier
    anonymous events linked to the lead (``visitor_is_new``: the id was made for this submission, so there are
    none to look for). Raises CaptureInvalid, writing nothing, for bad input.
    """
    identity = identity_normalize(
        email=email, phone=phone, first_name=first_name, last_name=last_name, default_country=default_country
    )
    occurred_at = occurred_at or timezone.now()
    if Suppression.objects.filter(email_sha256=email_fingerprint(identity.email)).exists():
        raise ApplicationError("This address asked to be forgotten; it cannot be captured again.", field="email")
    try:
        lead, created = _upsert_lead(identity)
    except IntegrityError as error:  # only a check constraint can get here: normalization is out of step
        raise ApplicationError(f"The lead could not be stored: {error}") from error
    if lead.erased_at is not None:
        raise ApplicationError("This address asked to be forgotten; it cannot be captured again.", field="email")
    optin, optin_created = event_record(
        type=Event.Type.OPTIN,
        idempotency_key=idempotency_key,
        occurred_at=occurred_at,
        lead=lead,
        visitor_id=visitor_id,
        refs=refs,
        client=client,
        properties=submitted_details(identity),
    )
    if not optin_created and optin.lead_id != lead.pk:
        # The submission id was used for another address: refuse (the transaction undoes the lead just made),
        # rather than leave a lead without its opt-in and consents.
        raise ConflictError(
            "This submission id was already used for a different e-mail address; send a new id.", field="id"
        )
    recorded: list[str] = []
    if optin_created:
        grants = consents_granted(
            lead_id=lead.pk,
            country=lead.country,
            answers=consents,
            source=source,
            assume_eea=assume_eea,
            occurred_at=occurred_at,
        )
        Consent.objects.bulk_create([Consent(**grant) for grant in grants])
        recorded = [grant["purpose"] for grant in grants]
        earlier_visits = None if visitor_is_new else visitor_id
        if earlier_visits is not None:
            Event.objects.filter(visitor_id=earlier_visits, lead__isnull=True).update(lead=lead)
        touches_record(lead, earlier_visits, attribution, new_lead=created)
    return Capture(
        lead_id=lead.pk,
        lead_public_id=lead.public_id,
        lead_created=created,
        optin_recorded=optin_created,
        consents_recorded=recorded,
    )


@transaction.atomic
def lead_forget(*, lead: Lead) -> Lead:
    """Erase a person's data (GDPR): the row stays as a pseudonymous tombstone for the event history, and the
    e-mail's fingerprint stays as a suppression key, so the address is never captured again."""
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.erased_at is not None:
        return lead
    Suppression.objects.get_or_create(email_sha256=email_fingerprint(lead.email))
    lead.email = f"erased-{lead.public_id}@erased.invalid"
    lead.phone = lead.first_name = lead.last_name = lead.region = lead.city = lead.postal_code = ""
    lead.erased_at = timezone.now()
    lead.save()
    lead.tags.clear()
    Touch.objects.filter(lead=lead).delete()
    Consent.objects.filter(lead=lead).delete()
    Note.objects.filter(lead=lead).delete()
    # What capture forms submitted (kept on the opt-ins, see submitted_details) goes with the rest.
    for optin in Event.objects.filter(lead=lead, type=Event.Type.OPTIN, properties__has_key="submitted"):
        optin.properties.pop("submitted", None)
        optin.save(update_fields=["properties"])
    ConversionOutbox.objects.filter(event__lead=lead).delete()  # the deliveries made of it: see audiences.conversions
    leads_mark_changed(lead_ids=[lead.pk])
    return lead
