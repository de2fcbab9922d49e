"""Data that crosses from the apps above into leads: frozen, keyword-only value objects."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

ATTRIBUTION_FIELDS = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "referrer",
    "landing_url",
    "fbclid",
    "fbc",
    "gclid",
    "gbraid",
    "wbraid",
)
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
UTM_MAX_LENGTH = 200


def normalize_utm(value: str) -> str:
    """A UTM value as Ladder stores and compares it: surrounding blanks dropped, runs of blanks inside made one
    space, lower case (``Facebook``, `` facebook `` and ``FACEBOOK`` are one source), at most 200 characters."""
    return " ".join(value.split()).lower()[:UTM_MAX_LENGTH]


@dataclass(frozen=True, kw_only=True, slots=True)
class Attribution:
    """Where a visit came from: UTM parameters, referrer, landing page and ad click ids."""

    occurred_at: dt.datetime
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_content: str = ""
    utm_term: str = ""
    referrer: str = ""
    landing_url: str = ""
    fbclid: str = ""
    fbc: str = ""
    gclid: str = ""
    gbraid: str = ""
    wbraid: str = ""

    def __post_init__(self) -> None:
        for name in UTM_FIELDS:  # every way in (pages, API, inbox, demo) stores UTM values one way
            value = getattr(self, name)
            if value and (normal := normalize_utm(value)) != value:
                object.__setattr__(self, name, normal)

    @property
    def arrived_from_outside(self) -> bool:
        """A landing: a campaign or click id, or a referrer on another site."""
        return self.has_campaign or bool(self.referrer)

    def as_properties(self) -> dict[str, str]:
        return {name: value for name in ATTRIBUTION_FIELDS if (value := getattr(self, name))}

    @property
    def has_campaign(self) -> bool:
        """Did this visit arrive from a campaign or a click id (rather than by typing the address)?"""
        return any(
            getattr(self, name)
            for name in ("utm_source", "utm_medium", "utm_campaign", "fbclid", "gclid", "gbraid", "wbraid")
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class ClientContext:
    """The browser a conversion happened in, for server-side conversions (Meta and Google ask for it): its IP
    address, user agent and Meta's ``_fbp`` cookie. Kept only until each conversion is delivered."""

    ip: str = ""
    user_agent: str = ""
    fbp: str = ""

    def as_dict(self) -> dict[str, str]:
        return {name: value for name in ("ip", "user_agent", "fbp") if (value := getattr(self, name))}


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsentAnswer:
    """One checkbox as the person saw it: its purpose, the exact wording, and whether they ticked it."""

    purpose: str
    wording: str
    granted: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class EventRefs:
    funnel_id: int | None = None
    step_id: int | None = None
    variant_id: int | None = None
    offer_id: int | None = None
    order_id: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Capture:
    lead_id: int
    lead_public_id: uuid.UUID
    lead_created: bool
    optin_recorded: bool  # False when this submission was already recorded (a double submit or a retry)
    consents_recorded: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, slots=True)
class Identity:
    """A person's details as typed, normalized: the e-mail and phone as stored, names with spaces collapsed, and the
    country the phone number belongs to (else the funnel's)."""

    email: str
    phone: str = ""
    first_name: str = ""
    last_name: str = ""
    country: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class QueuedOptin:
    """An opt-in the capture API accepted and queued, to be written with others in one batch (leads.inbox).

    Everything was checked when it was accepted; ``identity`` is already normalized.
    """

    idempotency_key: str
    identity: Identity
    occurred_at: dt.datetime
    source: str
    assume_eea: bool = True
    consents: tuple[ConsentAnswer, ...] = ()
    visitor_id: uuid.UUID | None = None
    visitor_is_new: bool = False
    attribution: Attribution | None = None
    refs: EventRefs = field(default_factory=EventRefs)


@dataclass(frozen=True, kw_only=True, slots=True)
class OptinsWritten:
    """What writing a batch of queued opt-ins did."""

    recorded: list[tuple[int, int | None]]  # (lead id, step id) of each opt-in recorded now, in arrival order
    duplicates: int  # submissions already recorded (a double submit, or a batch replayed after a crash)
    refused: int  # addresses that asked to be forgotten
