"""What a buyer's browser and Stripe's webhooks do, for tests that drive the pages with Django's client."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import stripe
from django.test import Client

from tests.fakes.stripe_api import PUBLISHABLE_KEY, WEBHOOK_SECRET, FakeStripe


def browser_confirm(
    fake: FakeStripe, client_secret: str, *, card: str = "", payment_method: str = "", authenticate: bool = True
) -> dict[str, Any]:
    """What Stripe.js does for confirmCardPayment: confirm with the publishable key, then 3-D Secure if asked."""
    intent_id = client_secret.split("_secret_")[0]
    fields = {"key": PUBLISHABLE_KEY, "client_secret": client_secret}
    if card:
        fields |= {"payment_method_data[type]": "card", "payment_method_data[card][number]": card}
    if payment_method:
        fields["payment_method"] = payment_method
    answer = _post(f"{fake.base_url}/v1/payment_intents/{intent_id}/confirm", fields)
    if answer.get("status") == "requires_action":
        answer = _post(
            f"{fake.base_url}/v1/payment_intents/{intent_id}/_authenticate",
            {"key": PUBLISHABLE_KEY, "client_secret": client_secret, "success": str(authenticate).lower()},
        )
    return answer


def _post(url: str, fields: dict[str, str]) -> dict[str, Any]:
    body = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 (the loopback fake)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return dict(json.load(response))
    except urllib.error.HTTPError as error:
        return dict(json.load(error))


def deliver_webhooks(client: Client, fake: FakeStripe, capture: Any) -> int:
    """POST every event the fake has raised since the last call to /webhooks/stripe/, signed; runs the tasks."""
    delivered = getattr(fake, "_delivered", 0)
    pending = fake.events[delivered:]
    with capture(execute=True):
        for event in pending:
            body = json.dumps(event)
            header = stripe.WebhookSignature.generate_signature_header(body, WEBHOOK_SECRET)
            response = client.post(
                "/webhooks/stripe/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
            )
            assert response.status_code == 200, response.content
    fake._delivered = delivered + len(pending)  # type: ignore[attr-defined]
    return len(pending)
