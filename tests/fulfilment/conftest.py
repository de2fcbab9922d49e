"""The paid-order fixture of the Stripe webhook tests: fulfilment is driven by the same webhook."""

from tests.offers.test_stripe_webhooks import paid_order  # noqa: F401
