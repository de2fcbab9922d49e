"""The error family of every outside system: transient errors are retried, permanent ones surface to a person."""

from __future__ import annotations


class IntegrationError(Exception):
    pass


class IntegrationTransientError(IntegrationError):
    """Rate limits, 5xx, timeouts: retry with backoff."""


class IntegrationPermanentError(IntegrationError):
    """Bad credentials, invalid parameters, refused input: do not retry; say what is wrong."""
