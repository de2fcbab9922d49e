"""Server-side conversions: what every platform's sender takes and answers (``integrations.meta.conversions``,
``integrations.google.conversions``).

A ``Conversion`` arrives with its identifiers already normalized and hashed for each platform by
``integrations.identifiers``, so the SDKs hash nothing themselves (Meta's passes SHA-256 hex through unchanged).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from common.money import currency_exponent

META_MAX_AGE = dt.timedelta(days=7)  # Meta refuses a request holding any older event
GOOGLE_MAX_AGE = dt.timedelta(days=90)  # Google Ads' longest click-through conversion window
EVENT_NAMES = {"optin": "Lead", "purchase": "Purchase"}


@dataclass(frozen=True, kw_only=True, slots=True)
class Conversion:
    """One conversion to report: who (hashed per platform), when, from which click and browser, and for how much."""

    event_id: str
    name: str  # Meta's standard event name: Lead, Purchase
    occurred_at: dt.datetime
    meta_hashes: dict[str, str] = field(default_factory=dict)  # EMAIL, PHONE, FN, LN, CT, ST, ZIP, COUNTRY
    google_hashes: dict[str, str] = field(default_factory=dict)  # email_address, phone_number, address parts
    external_id: str = ""  # Ladder's id for the person, hashed before it leaves
    client_ip: str = ""
    user_agent: str = ""
    fbc: str = ""
    fbp: str = ""
    gclid: str = ""
    gbraid: str = ""
    wbraid: str = ""
    source_url: str = ""
    value_minor: int | None = None
    currency: str = ""
    transaction_id: str = ""


@dataclass(frozen=True, slots=True)
class Delivered:
    received: int
    reference: str = ""  # Meta's fbtrace_id, Google's request_id
    messages: list[str] = field(default_factory=list)


def too_old(conversion: Conversion, *, platform: str, now: dt.datetime) -> bool:
    return now - conversion.occurred_at > (META_MAX_AGE if platform == "meta" else GOOGLE_MAX_AGE)


def major_units(value_minor: int, currency: str) -> float:
    return value_minor / 10 ** currency_exponent(currency)
