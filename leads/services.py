"""Writes for leads: capture, consent, the event log."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.db import insert_ignoring_conflicts
from common.errors import ApplicationError
from leads.contracts import ATTRIBUTION_FIELDS, Attribution, Capture, ConsentAnswer, EventRefs
from leads.models import Consent, Event, Lead, LeadMark, Note, Suppression, Touch
from leads.normalization import normalize_email, normalize_phone

# Countries where GDPR-style rules apply (EEA, UK, Switzerland): ad-audience consent must be explicit.
EEA_COUNTRIES = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO GB CH".split()
)
NAME_MAX = 100


class CaptureInvalid(ApplicationError):
    """Field-level problems with a capture; ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items()))
        self.errors = errors


def _clean_identity(*, email: str, phone: str, first_name: str, last_name: str, default_country: str) -> dict[str, str]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, str] = {}
    try:
        cleaned["email"] = normalize_email(email)
    except ValidationError as error:
        errors["email"] = list(error.messages)
    try:
        cleaned["phone"] = normalize_phone(phone, default_country=default_country)
    except ValidationError as error:
        errors["phone"] = list(error.messages)
    for name, value in (("first_name", first_name), ("last_name", last_name)):
        text = " ".join((value or "").split())
        if len(text) > NAME_MAX:
            errors[name] = [f"At most {NAME_MAX} characters."]
        cleaned[name] = text
    if errors:
        raise CaptureInvalid(errors)
    return cleaned


def _upsert_lead(identity: dict[str, str], *, country: str) -> tuple[Lead, bool]:
    """One lead per normalized e-mail, even when two requests race: the unique index decides."""
    defaults = {**{k: v for k, v in identity.items() if k != "email"}, "country": country}
    candidate = Lead(email=identity["email"], **defaults)
    inserted = insert_ignoring_conflicts([candidate], conflict_fields=["email"])
    created = bool(inserted)
    if created:  # the instance already holds every stored value (defaults, and timestamps from pre_save)
        candidate.pk = inserted[0]
        candidate._state.adding = False
        lead = candidate
    else:
        lead = Lead.objects.get(email=identity["email"])
    if not created:
        # New details fill in or replace old ones; an empty field never erases what we knew.
        changed = [name for name, value in defaults.items() if value and getattr(lead, name) != value]
        if changed:
            for name in changed:
                setattr(lead, name, defaults[name])
            lead.save(update_fields=[*changed, "updated_at"])
    return lead, created


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
) -> tuple[Event, bool]:
    """Append one event unless its idempotency key is already recorded; returns (event, created)."""
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
    inserted = insert_ignoring_conflicts(
        [Event(idempotency_key=idempotency_key, **defaults)], conflict_fields=["idempotency_key"]
    )
    if inserted:
        if lead is not None:
            leads_mark_changed(lead_ids=[lead.pk])
        return Event(pk=inserted[0], idempotency_key=idempotency_key, **defaults), True
    return Event.objects.get(idempotency_key=idempotency_key), False


def leads_mark_changed(*, lead_ids: Sequence[int]) -> None:
    """Mark leads whose audience memberships may have changed, in the caller's transaction."""
    now = timezone.now()
    LeadMark.objects.bulk_create(
        [LeadMark(lead_id=lead_id, marked_at=now) for lead_id in sorted(set(lead_ids))],
        update_conflicts=True,
        unique_fields=["lead"],
        update_fields=["marked_at"],
    )


def _touch_from_event(event: Event) -> dict[str, Any]:
    values = {
        name: str(event.properties.get(name, ""))[: 2000 if name.endswith(("url", "referrer")) else 500]
        for name in ATTRIBUTION_FIELDS
    }
    for name in ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"):
        values[name] = values[name][:200]
    return {**values, "occurred_at": event.occurred_at}


def _record_touches(lead: Lead, visitor_id: uuid.UUID | None, current: Attribution | None, *, new_lead: bool) -> None:
    """First touch: the visitor's earliest landing; last touch: their latest one (or this request's)."""
    landings = Event.objects.none()
    if visitor_id is not None:
        landings = Event.objects.filter(
            visitor_id=visitor_id, type=Event.Type.PAGE_VIEW, properties__landing=True
        ).order_by("occurred_at", "id")
    found = list(landings)  # a visitor has a handful of landings; one query for first and last
    first_event, last_event = (found[0], found[-1]) if found else (None, None)
    current_values = (
        {**{name: getattr(current, name) for name in ATTRIBUTION_FIELDS}, "occurred_at": current.occurred_at}
        if current is not None
        else None
    )
    first = _touch_from_event(first_event) if first_event else current_values
    last = current_values if current is not None and current.has_campaign else None
    if last is None:
        last = _touch_from_event(last_event) if last_event else current_values
    if new_lead and first is not None and last is not None:  # nothing to keep or replace: one statement
        insert_ignoring_conflicts(
            [Touch(lead=lead, kind=Touch.Kind.FIRST, **first), Touch(lead=lead, kind=Touch.Kind.LAST, **last)],
            conflict_fields=["lead", "kind"],
        )
        return
    if first is not None:
        insert_ignoring_conflicts([Touch(lead=lead, kind=Touch.Kind.FIRST, **first)], conflict_fields=["lead", "kind"])
    if last is not None:
        Touch.objects.bulk_create(
            [Touch(lead=lead, kind=Touch.Kind.LAST, **last)],
            update_conflicts=True,
            unique_fields=["lead", "kind"],
            update_fields=[*ATTRIBUTION_FIELDS, "occurred_at"],
        )


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
) -> Capture:
    """Turn a submitted opt-in into a lead, atomically.

    Normalizes the e-mail and phone (E.164 with ``default_country``), upserts the lead by normalized e-mail
    (two concurrent posts of one address make one lead), records the ``optin`` event under
    ``idempotency_key`` (a double submit records nothing more), and only for a new submission: each ticked
    consent with its exact wording, the first- and last-touch attribution, and the visitor's earlier
    anonymous events linked to the lead (``visitor_is_new``: the id was made for this submission, so there are
    none to look for). Raises CaptureInvalid, writing nothing, for bad input.
    """
    identity = _clean_identity(
        email=email, phone=phone, first_name=first_name, last_name=last_name, default_country=default_country
    )
    occurred_at = occurred_at or timezone.now()
    country = default_country.upper() if identity["phone"] == "" else _country_of(identity["phone"], default_country)
    if Suppression.objects.filter(email_sha256=email_fingerprint(identity["email"])).exists():
        raise ApplicationError("This address asked to be forgotten; it cannot be captured again.", field="email")
    try:
        lead, created = _upsert_lead(identity, country=country)
    except IntegrityError as error:  # only a check constraint can get here: normalization is out of step
        raise ApplicationError(f"The lead could not be stored: {error}") from error
    if lead.erased_at is not None:
        raise ApplicationError("This address asked to be forgotten; it cannot be captured again.", field="email")
    _, optin_created = event_record(
        type=Event.Type.OPTIN,
        idempotency_key=idempotency_key,
        occurred_at=occurred_at,
        lead=lead,
        visitor_id=visitor_id,
        refs=refs,
    )
    recorded: list[str] = []
    if optin_created:
        eea = (lead.country in EEA_COUNTRIES) if lead.country else assume_eea
        grants = [
            Consent(
                lead=lead,
                purpose=answer.purpose,
                status=Consent.Status.GRANTED,
                wording=answer.wording,
                source=source,
                legal_basis=Consent.LegalBasis.CONSENT,
                eea=eea,
                occurred_at=occurred_at,
            )
            for answer in consents
            if answer.granted
        ]
        Consent.objects.bulk_create(grants)
        recorded = [grant.purpose for grant in grants]
        earlier_visits = None if visitor_is_new else visitor_id
        if earlier_visits is not None:
            Event.objects.filter(visitor_id=earlier_visits, lead__isnull=True).update(lead=lead)
        _record_touches(lead, earlier_visits, attribution, new_lead=created)
    return Capture(
        lead_id=lead.pk,
        lead_public_id=lead.public_id,
        lead_created=created,
        optin_recorded=optin_created,
        consents_recorded=recorded,
    )


def _country_of(phone_e164: str, fallback: str) -> str:
    region = phonenumbers.region_code_for_number(phonenumbers.parse(phone_e164))
    return region if region and region != "ZZ" else fallback.upper()


def events_record_batch(*, events: Sequence[Event]) -> int:
    """Insert the events whose idempotency keys are new, in one statement; returns how many were new."""
    inserted = insert_ignoring_conflicts(events, conflict_fields=["idempotency_key"])
    lead_ids = [event.lead_id for event in events if event.lead_id is not None]
    if inserted and lead_ids:
        leads_mark_changed(lead_ids=lead_ids)
    return len(inserted)


def email_fingerprint(normalized_email: str) -> str:
    return hashlib.sha256(normalized_email.encode("utf-8")).hexdigest()


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
    leads_mark_changed(lead_ids=[lead.pk])
    return lead
