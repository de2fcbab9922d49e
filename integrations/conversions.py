"""Server-side conversions: what every platform's sender takes and answers (``integrations.meta.conversions``,
``integrations.google.conversions``).

A ``Conversion`` arrives with its identifiers already normalized and hashed for each platform by
``integrations.identifiers``, so the SDKs hash nothing themselves (Meta's passes SHA-256 hex through unchanged).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

from common.money import currency_exponent

EVENT_NAMES = {"optin": "Lead", "purchase": "Purchase"}


@dataclass(frozen=True, kw_only=True, slots=True)
class Conversion:
    """One conversion to report: who (hashed as the receiving platform asks), when, from which click and browser, and
    for how much."""

    event_id: str
    name: str  # Meta's standard event name: Lead, Purchase
    occurred_at: dt.datetime
    hashes: dict[str, str] = field(default_factory=dict)  # the platform's own keys (its ``Hasher``'s answer)
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


class ConversionSender(Protocol):
    """What each platform's conversions client offers: its request size and sending. Each client class also says the
    oldest event its platform takes (``max_age``, and ``max_age_text`` for a person): Meta refuses a whole request
    holding an older one, so the caller drops those first."""

    batch_size: int

    def send(self, conversions: list[Conversion]) -> Delivered: ...


def major_units(value_minor: int, currency: str) -> float:
    return value_minor / 10 ** currency_exponent(currency)
