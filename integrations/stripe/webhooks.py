"""Stripe webhook verification through the official library: HMAC-SHA256 over the raw body, with a time window.

No network call is made. Nothing here logs the payload or the signature.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import stripe

from common.parsers import holds_unstorable, loads_bounded
from integrations.errors import IntegrationPermanentError


class WebhookRejected(IntegrationPermanentError):
    """The request is not a genuine, fresh Stripe event; ``reason`` is safe to show and to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, kw_only=True, slots=True)
class VerifiedEvent:
    id: str
    type: str
    created: int
    livemode: bool
    payload: dict[str, Any]

    @property
    def object(self) -> dict[str, Any]:
        data: dict[str, Any] = self.payload.get("data", {}).get("object", {})
        return data


FUTURE_TOLERANCE = 300  # seconds a signature's timestamp may run ahead of our clock
_NUL = re.compile(rb"\\u0000|\x00")


def webhook_verify(*, payload: bytes, signature: str | None, secret: str, tolerance: int) -> VerifiedEvent:
    """Verify ``payload`` against the ``Stripe-Signature`` header, then check it is an event Ladder can store.
    Raises WebhookRejected with the reason."""
    if not secret:
        raise WebhookRejected("Stripe webhooks are not configured: set STRIPE_WEBHOOK_SECRET.")
    if not signature:
        raise WebhookRejected("The Stripe-Signature header is missing.")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRejected("The body is not UTF-8 JSON.") from None
    try:
        stripe.WebhookSignature.verify_header(text, signature, secret, tolerance=tolerance)
    except stripe.SignatureVerificationError as error:
        reason = "timestamp outside the tolerance zone" if "tolerance" in str(error) else "bad signature"
        raise WebhookRejected(f"The Stripe signature does not verify: {reason}.") from None
    stamps = [part[2:] for part in signature.split(",") if part.strip().startswith("t=")]
    if stamps and stamps[0].strip().isdigit() and int(stamps[0]) > time.time() + FUTURE_TOLERANCE:
        raise WebhookRejected("The Stripe signature does not verify: timestamp in the future.")
    try:
        body = loads_bounded(text)
    except ValueError:
        raise WebhookRejected("The body is not a JSON Stripe event.") from None
    if _NUL.search(payload) or holds_unstorable(body):  # PostgreSQL's jsonb stores neither
        raise WebhookRejected("The body holds a NUL or a lone surrogate, which no Stripe event does.")
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not isinstance(body.get("type"), str):
        raise WebhookRejected("The body is not a Stripe event (an object with an id and a type).")
    created = body.get("created", 0)
    if isinstance(created, bool) or not isinstance(created, int) or created < 0:
        raise WebhookRejected("The event's created is not a Unix time.")
    if "data" in body and not (isinstance(body["data"], dict) and isinstance(body["data"].get("object", {}), dict)):
        raise WebhookRejected("The event's data.object is not an object.")
    return VerifiedEvent(
        id=body["id"][:255],
        type=body["type"][:255],
        created=created,
        livemode=bool(body.get("livemode")),
        payload=body,
    )
