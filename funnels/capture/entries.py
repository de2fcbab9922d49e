"""What the fast path and the full path build alike, each written once, so the two cannot drift apart."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from funnels.models import Funnel, Step
from funnels.services import Visit
from funnels.snapshots import FunnelSnapshot
from funnels.splits import variant_for
from leads.models import Consent

EVENT_PAST_LIMIT = dt.timedelta(days=7)  # an event's occurred_at may lie this far back
EVENT_FUTURE_LIMIT = dt.timedelta(minutes=5)  # and this far ahead of the server's clock
EVENTS_MAX = 100  # events in one batch
PROPERTIES_MAX_KEYS = 50
PROPERTIES_MAX_BYTES = 4096  # as JSON
CLIENT_ID_MAX = 100  # a submission's or an event's id
NAME_MAX = 100  # a person's first or last name, or a custom event's name
PHONE_MAX = 40
EMAIL_MAX = 320
URL_MAX = 2000  # the page and its referrer
FBC_MAX = 500

# Each purpose and the step's field holding the wording shown next to its checkbox (no wording: not asked).
_WORDING_FIELDS = (
    (Consent.Purpose.MARKETING_EMAIL.value, "consent_email_text"),
    (Consent.Purpose.AD_AUDIENCES.value, "consent_ads_text"),
)


def consents_asked(step: Step) -> dict[str, str]:
    """The purposes a step asks consent for, each with the wording shown beside its checkbox."""
    return {purpose: text for purpose, field in _WORDING_FIELDS if (text := getattr(step, field))}


def optin_key(funnel_id: int, submission_id: str) -> str:
    """The idempotency key of an opt-in: one submission id of one funnel is recorded once."""
    return f"optin:{funnel_id}:{submission_id}"


def event_key(funnel_id: int, client_id: str) -> str:
    """The idempotency key of a reported event: one event id of one funnel is recorded once."""
    return f"api:{funnel_id}:{client_id}"


def api_source(funnel: Funnel, step: Step) -> str:
    """Where an API opt-in came from, as its lead's source says."""
    return f"api {funnel.slug} / {step.slug}"


def visit_for(step: Step, visitor_id: uuid.UUID) -> Visit:
    """The visitor at this step, with the split-test variant they see (the same for them every time)."""
    return Visit(
        step=step,
        visitor_id=visitor_id,
        variant=variant_for(visitor_id=visitor_id, step_id=step.pk, variants=list(step.variants.all())),
    )


def email_identity(email: str) -> str | None:
    """The per-address throttle's key: a hash (the cache never holds the address), or None for a blank one."""
    if not email.strip():
        return None
    # surrogatepass: a lone surrogate is hashed here like any text; validation then refuses the address
    return hashlib.sha256(email.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()


def next_url(snapshot: FunnelSnapshot, step: Step) -> str:
    """The page a visitor who accepted this step goes to next ("" at the funnel's end)."""
    slug = snapshot.next_slug(step, "accept")
    return f"/f/{snapshot.funnel.slug}/{slug}/" if slug else ""
