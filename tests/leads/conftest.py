"""The funnel fixtures, for tests here that walk a hosted page (server-side conversions)."""

from tests.funnels.conftest import live_funnel  # noqa: F401
from tests.offers.test_stripe_webhooks import paid_order  # noqa: E402, F401
