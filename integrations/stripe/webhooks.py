"""Stripe webhook verification through the official library: HMAC-SHA256 over the raw body, with a time window.

No network call is made. Nothing here logs the payload or the signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe

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


def webhook_verify(*, payload: bytes, signature: str | None, secret: str, tolerance: int) -> VerifiedEvent:
    """Verify ``payload`` against the ``Stripe-Signature`` header. Raises WebhookRejected with the reason."""
    if not secret:
        raise WebhookRejected("Stripe webhooks are not configured: set STRIPE_WEBHOOK_SECRET.")
    if not signature:
        raise WebhookRejected("The Stripe-Signature header is missing.")
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret, tolerance=tolerance)
    except stripe.SignatureVerificationError as error:
        reason = "timestamp outside the tolerance zone" if "tolerance" in str(error) else "bad signature"
        raise WebhookRejected(f"The Stripe signature does not verify: {reason}.") from None
    except ValueError:
        raise WebhookRejected("The body is not a JSON Stripe event.") from None
    body = event.to_dict()
    if not isinstance(body.get("id"), str) or not isinstance(body.get("type"), str):
        raise WebhookRejected("The body is not a Stripe event (no id or type).")
    return VerifiedEvent(
        id=body["id"],
        type=body["type"],
        created=int(body.get("created") or 0),
        livemode=bool(body.get("livemode")),
        payload=body,
    )
