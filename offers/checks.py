"""System checks for payments: half a Stripe configuration takes money it never records."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register


@register()
def stripe_configuration(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    secret, publishable = settings.STRIPE_SECRET_KEY, settings.STRIPE_PUBLISHABLE_KEY
    if bool(secret) != bool(publishable):
        problems.append(
            Error(
                "Set both STRIPE_SECRET_KEY and STRIPE_PUBLISHABLE_KEY, or neither.",
                hint="The pages confirm cards with the publishable key; the server charges with the secret key.",
                id="offers.E001",
            )
        )
    if secret and not settings.STRIPE_WEBHOOK_SECRET:
        problems.append(
            Warning(
                "Payments are on but STRIPE_WEBHOOK_SECRET is not set: Stripe's webhooks mark orders paid, so "
                "order-form purchases would stay 'processing'.",
                hint="Add an endpoint for /webhooks/stripe/ in Stripe's dashboard and set its signing secret.",
                id="offers.W001",
            )
        )
    if secret.startswith("sk_live_") and publishable.startswith("pk_test_"):
        problems.append(Error("STRIPE_SECRET_KEY is live but STRIPE_PUBLISHABLE_KEY is a test key.", id="offers.E002"))
    return problems
