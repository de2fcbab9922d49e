"""Errors raised by services. The interfaces (admin, API, commands) turn them into messages a person can act on."""

from __future__ import annotations


class ApplicationError(Exception):
    """A rule of the domain refused the request; ``message`` says what is wrong and what to do."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ConflictError(ApplicationError):
    """The request contradicts one already recorded under the same id (an API answers 409)."""
