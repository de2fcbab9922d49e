"""Writes for leads: capture, consent, the event log."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from common.db import insert_ignoring_conflicts, rows_insert, rows_update
from common.errors import ApplicationError, ConflictError
from leads.contracts import (
    ATTRIBUTION_FIELDS,
    UTM_FIELDS,
    Attribution,
    Capture,
    ClientContext,
    ConsentAnswer,
    EventRefs,
    Identity,
    OptinsWritten,
    QueuedOptin,
    normalize_utm,
)
from leads.marks import leads_mark_changed
from leads.models import (
    Consent,
    ConversionDelivery,
    ConversionOutbox,
    Event,
    Lead,
    Note,
    Suppression,
    Touch,
)
from leads.normalization import normalize_email, normalize_phone

# Events reported to the conversions destinations (Meta's Lead and Purchase).
CONVERSION_TYPES = frozenset({Event.Type.OPTIN, Event.Type.PURCHASE})

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


def identity_normalize(
    *, email: str, phone: str = "", first_name: str = "", last_name: str = "", default_country: str = ""
) -> Identity:
    """The details as they are stored: raises CaptureInvalid, naming each field that is wrong, for bad input."""
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
    country = _country_of(cleaned["phone"], default_country) if cleaned["phone"] else default_country.upper()
    return Identity(**cleaned, country=country)


def _upsert_lead(identity: Identity) -> tuple[Lead, bool]:
    """One lead per normalized e-mail, even when two requests race: the unique index decides."""
    defaults = _lead_details(identity)
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
    typed = {name: value for name, value in _lead_details(identity).items() if value and name != "country"}
    return {"submitted": typed} if typed else {}


def _lead_details(identity: Identity) -> dict[str, str]:
    return {
        "phone": identity.phone,
        "first_name": identity.first_name,
        "last_name": identity.last_name,
        "country": identity.country,
    }


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


def _touch_from_event(event: Event) -> dict[str, Any]:
    values = {
        name: str(event.properties.get(name, ""))[: 2000 if name.endswith(("url", "referrer")) else 500]
        for name in ATTRIBUTION_FIELDS
    }
    for name in UTM_FIELDS:  # a landing recorded before UTM values were normalized is read as if it were
        values[name] = normalize_utm(values[name])
    return {**values, "occurred_at": event.occurred_at}


def _landings(visitor_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Event]]:
    """Each visitor's landing page views, earliest first (a visitor has a handful): one query for all of them."""
    found: dict[uuid.UUID, list[Event]] = defaultdict(list)
    if visitor_ids:
        landings = Event.objects.filter(
            visitor_id__in=visitor_ids, type=Event.Type.PAGE_VIEW, properties__landing=True
        ).order_by("occurred_at", "id")
        for event in landings:
            found[cast(uuid.UUID, event.visitor_id)].append(event)
    return found


Touches = tuple[dict[str, Any] | None, dict[str, Any] | None]


def _touches(landings: Sequence[Event], current: Attribution | None) -> Touches:
    """First touch: the visitor's earliest landing; last touch: their latest one, or this request's when it came from
    a campaign. Either is this request's attribution when the visitor has no landing."""
    first_event, last_event = (landings[0], landings[-1]) if landings else (None, None)
    current_values = (
        {**{name: getattr(current, name) for name in ATTRIBUTION_FIELDS}, "occurred_at": current.occurred_at}
        if current is not None
        else None
    )
    first = _touch_from_event(first_event) if first_event else current_values
    last = current_values if current is not None and current.has_campaign else None
    if last is None:
        last = _touch_from_event(last_event) if last_event else current_values
    return first, last


def _record_touches(lead: Lead, visitor_id: uuid.UUID | None, current: Attribution | None, *, new_lead: bool) -> None:
    landings = _landings([visitor_id]).get(visitor_id, []) if visitor_id is not None else []
    first, last = _touches(landings, current)
    if new_lead and first is not None and last is not None:  # nothing to keep or replace: one statement
        insert_ignoring_conflicts(
            [Touch(lead=lead, kind=Touch.Kind.FIRST, **first), Touch(lead=lead, kind=Touch.Kind.LAST, **last)],
            conflict_fields=["lead", "kind"],
        )
        return
    _touches_write(
        firsts=[Touch(lead=lead, kind=Touch.Kind.FIRST, **first)] if first is not None else [],
        lasts=[Touch(lead=lead, kind=Touch.Kind.LAST, **last)] if last is not None else [],
    )


def _touches_write(*, firsts: Sequence[Touch], lasts: Sequence[Touch]) -> None:
    """A first touch is kept once written; a last touch replaces the one before. At most one of each per lead."""
    if firsts:
        insert_ignoring_conflicts(firsts, conflict_fields=["lead", "kind"])
    if lasts:
        Touch.objects.bulk_create(
            lasts,
            update_conflicts=True,
            unique_fields=["lead", "kind"],
            update_fields=[*ATTRIBUTION_FIELDS, "occurred_at"],
        )


def _grants(
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
        grants = _grants(
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
        _record_touches(lead, earlier_visits, attribution, new_lead=created)
    return Capture(
        lead_id=lead.pk,
        lead_public_id=lead.public_id,
        lead_created=created,
        optin_recorded=optin_created,
        consents_recorded=recorded,
    )


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
            for grant in _grants(
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
    landings = _landings(list(returning))
    firsts: dict[int, dict[str, Any]] = {}
    lasts: dict[int, dict[str, Any]] = {}
    for optin in fresh:
        lead_id = leads[optin.identity.email].pk
        visitor = optin.visitor_id if optin.visitor_id in returning else None
        first, last = _touches(landings.get(visitor, []) if visitor else [], optin.attribution)
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


# The details a lead holds beyond its address: filled in when empty, never replaced (see _fill_in).
DETAIL_FIELDS = ("phone", "first_name", "last_name", "country", "region", "city", "postal_code", "company_size")


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchLead:
    pk: int
    country: str
    erased: bool
    created: bool = False  # by this batch
    filled: bool = False  # an empty detail of a known lead was filled in


def _upsert_leads(identities: Sequence[Identity]) -> dict[str, BatchLead]:
    """``_upsert_lead`` for many addresses, by e-mail. The details of one address's submissions are merged in order,
    the first submission of a detail standing and later ones only filling in what is missing."""
    details: dict[str, dict[str, Any]] = {}
    for identity in identities:
        merged = details.setdefault(identity.email, {})
        for name, value in _lead_details(identity).items():
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
    for email in known:  # a detail fills in a field the lead lacks and never replaces a known one (see _fill_in)
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
    # What capture forms submitted (kept on the opt-ins, see submitted_details) goes with the rest.
    for optin in Event.objects.filter(lead=lead, type=Event.Type.OPTIN, properties__has_key="submitted"):
        optin.properties.pop("submitted", None)
        optin.save(update_fields=["properties"])
    conversions = Event.objects.filter(lead=lead).values("pk")
    ConversionOutbox.objects.filter(event__in=conversions).delete()
    ConversionDelivery.objects.filter(event__in=conversions, status=ConversionDelivery.Status.PENDING).update(
        status=ConversionDelivery.Status.DROPPED, reason="The person was erased.", client={}, finished_at=lead.erased_at
    )
    leads_mark_changed(lead_ids=[lead.pk])
    return lead
