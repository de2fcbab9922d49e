"""The error family of every outside system: transient errors are retried, permanent ones surface to a person."""

from __future__ import annotations


class IntegrationError(Exception):
    pass


class IntegrationTransientError(IntegrationError):
    """Rate limits, 5xx, timeouts: retry with backoff, or after ``retry_after`` seconds when the platform says."""

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IntegrationPermanentError(IntegrationError):
    """Bad credentials, invalid parameters, refused input: do not retry; say what is wrong."""


class IntegrationCredentialsError(IntegrationPermanentError):
    """An expired, revoked or under-permissioned credential: the destination waits for a person to fix it."""


class IntegrationBlockedError(IntegrationPermanentError):
    """The platform refuses this audience itself (Meta's restricted audiences): blocked with the platform's reason."""
