"""The paid-order fixture, for the tests here that follow a buyer's mail."""

from tests.offers.test_stripe_webhooks import paid_order  # noqa: E402, F401
