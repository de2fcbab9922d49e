"""The funnel fixture, for the server-side conversions tests that walk a hosted page."""

from tests.funnels.conftest import live_funnel  # noqa: F401
