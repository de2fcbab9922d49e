"""The fast path for API opt-ins, and the flush that writes the capture inbox.

``optin_entry`` either returns the inbox entry for an opt-in that is certainly valid, or ``None`` for anything it is
not sure of; the API then answers through its full serializers and ``lead_capture``, which explain every error. So
the fast path never accepts what the full path would refuse, and what it queues is written exactly as the full path
would have written it (``leads.services.optins_record_batch``), within about a second.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass
from typing import Any

from common.tasks import enqueue_on_commit
from funnels.beacons import certain_page, certain_text, certain_uuid
from funnels.models import Step
from funnels.services import Visit, visitor_for_submission
from funnels.snapshots import FunnelSnapshot
from funnels.splits import variant_for
from funnels.tracking import attribution_from_url
from leads import inbox
from leads.contracts import ConsentAnswer, QueuedOptin
from leads.models import Consent
from leads.services import CaptureInvalid, identity_normalize
from offers.models import Offer

OPTIN_FIELDS = frozenset(
    {
        "key",
        "id",
        "email",
        "first_name",
        "last_name",
        "phone",
        "step",
        "consents",
        "visitor_id",
        "website",
        "url",
        "referrer",
        "fbc",
    }
)
PURPOSES = frozenset(Consent.Purpose.values)
# Each purpose and the step's field holding the wording shown next to its checkbox (no wording: not asked).
WORDING_FIELDS = (
    (Consent.Purpose.MARKETING_EMAIL.value, "consent_email_text"),
    (Consent.Purpose.AD_AUDIENCES.value, "consent_ads_text"),
)

# Both throttle windows counted (each given its expiry when new); over either limit → 0, else the opt-in is queued → 1.
THROTTLED_OPTIN = """
local by_ip = redis.call('INCR', KEYS[1])
if by_ip == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
local by_email = redis.call('INCR', KEYS[2])
if by_email == 1 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
if by_ip > tonumber(ARGV[1]) or by_email > tonumber(ARGV[3]) then return 0 end
redis.call('RPUSH', KEYS[3], ARGV[5])
return 1
"""


@functools.cache
def throttled_optin() -> Any:
    return inbox.redis().register_script(THROTTLED_OPTIN)


@dataclass(frozen=True, kw_only=True, slots=True)
class OptinEntry:
    row: str  # the inbox entry
    email_identity: str  # the per-e-mail throttle's identity (a hash, as the full path's)
    step: Step


def optin_entry(*, data: Any, snapshot: FunnelSnapshot, now: dt.datetime) -> OptinEntry | None:
    if not isinstance(data, dict) or not data.keys() <= OPTIN_FIELDS:
        return None
    submission_id = certain_text(data.get("id"), 100, blank=False)
    email = certain_text(data.get("email"), 320, blank=False)
    first_name = certain_text(data.get("first_name", ""), 100, blank=True)
    last_name = certain_text(data.get("last_name", ""), 100, blank=True)
    phone = certain_text(data.get("phone", ""), 40, blank=True)
    if not submission_id or not email or first_name is None or last_name is None or phone is None:
        return None
    if data.get("website", "") != "":  # the honeypot: the full path refuses it, saying why
        return None
    slug = data.get("step")
    if slug is not None and not isinstance(slug, str):
        return None
    step = snapshot.optin_step(slug)
    if step is None:
        return None
    ticked = data.get("consents", [])
    if not isinstance(ticked, list) or len(ticked) > 2 or not all(isinstance(p, str) and p in PURPOSES for p in ticked):
        return None
    wording = {purpose: text for purpose, field in WORDING_FIELDS if (text := getattr(step, field))}  # what it asks
    if not set(ticked) <= wording.keys():
        return None
    visitor_is_new = "visitor_id" not in data
    visitor_id = (
        visitor_for_submission(funnel=snapshot.funnel, submission_id=submission_id)
        if visitor_is_new
        else certain_uuid(data["visitor_id"])
    )
    page = certain_page(data)
    if visitor_id is None or page is None:
        return None
    url, referrer, fbc = page
    attribution = attribution_from_url(url=url, referrer=referrer, fbc_cookie=fbc, now=now) if url else None
    funnel = snapshot.funnel
    try:
        identity = identity_normalize(
            email=email, phone=phone, first_name=first_name, last_name=last_name, default_country=funnel.default_country
        )
    except CaptureInvalid:
        return None
    visit = Visit(
        step=step,
        visitor_id=visitor_id,
        variant=variant_for(visitor_id=visitor_id, step_id=step.pk, variants=list(step.variants.all())),
    )
    row = inbox.optin_encode(
        QueuedOptin(
            idempotency_key=f"optin:{funnel.pk}:{submission_id}",
            identity=identity,
            occurred_at=now,
            source=f"api {funnel.slug} / {step.slug}",
            assume_eea=funnel.eea_rules,
            consents=tuple(
                ConsentAnswer(purpose=purpose, wording=text, granted=purpose in ticked)
                for purpose, text in wording.items()
            ),
            visitor_id=visitor_id,
            visitor_is_new=visitor_is_new,
            attribution=attribution,
            refs=visit.refs,
        )
    )
    return OptinEntry(row=row, email_identity=hashlib.sha256(email.strip().lower().encode()).hexdigest(), step=step)


# --- the flush ----------------------------------------------------------------------------------------------


def capture_inbox_flush() -> tuple[int, int]:
    """Write what the capture inbox holds: (events recorded, opt-ins recorded). Lead magnets owed by the new opt-ins
    are e-mailed by one task per batch, scheduled after the batch commits."""
    return inbox.events_inbox_flush(), inbox.optins_inbox_flush(recorded=_lead_magnets_owed)


def _lead_magnets_owed(recorded: list[tuple[int, int | None]]) -> None:
    step_ids = {step_id for _, step_id in recorded if step_id is not None}
    magnet_steps = set(
        Step.objects.filter(pk__in=step_ids, offer__role=Offer.Role.LEAD_MAGNET).values_list("pk", flat=True)
    )
    owed = [[lead_id, step_id] for lead_id, step_id in recorded if step_id in magnet_steps]
    if owed:  # lost to a broker outage, they are still owed: lead_magnet_sweep finds them by their opt-in events
        enqueue_on_commit("funnels.lead_magnet_emails", owed=owed)
