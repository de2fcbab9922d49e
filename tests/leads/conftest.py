"""The funnel fixtures, for tests here that walk a hosted page (server-side conversions)."""

from tests.funnels.conftest import live_funnel  # noqa: F401
