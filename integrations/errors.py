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


# --- network failures ---------------------------------------------------------------------------------------------
# Client libraries put the request's URL (with Meta's ``access_token=…``) and ids into their network errors' messages,
# so those messages never leave this module: a failure is named by its kind and its class only.

_KINDS = (  # (words in a message, kind), checked in order when no exception in the chain says it by its type
    (("timed out", "timeout", "deadline"), "timed out"),
    (("refused",), "connection refused"),
    (("name or service not known", "nodename", "getaddrinfo", "name resolution", "resolve"), "name not resolved"),
    (("ssl", "tls", "certificate"), "TLS failed"),
    (("reset by peer", "connection aborted", "remote end closed", "broken pipe"), "connection dropped"),
)


def _chain(error: BaseException, depth: int = 0) -> list[BaseException]:
    """The error and those it wraps: causes, contexts, urllib3's ``reason`` and exceptions passed as arguments."""
    if depth > 6:
        return []
    found = [error]
    inner = [getattr(error, "reason", None), error.__cause__, error.__context__, *getattr(error, "args", ())]
    for candidate in inner:
        if isinstance(candidate, BaseException) and candidate is not error:
            found.extend(_chain(candidate, depth + 1))
    return found


def failure_kind(error: BaseException) -> str:
    """What went wrong on the network, in words that carry nothing of the request."""
    import socket
    import ssl

    chain = _chain(error)
    by_type = (
        ((TimeoutError, socket.timeout), "timed out"),
        ((ConnectionRefusedError,), "connection refused"),
        ((socket.gaierror,), "name not resolved"),
        ((ssl.SSLError,), "TLS failed"),
        ((ConnectionResetError, ConnectionAbortedError, BrokenPipeError), "connection dropped"),
    )
    for types, kind in by_type:
        if any(isinstance(link, types) for link in chain):
            return kind
    text = " ".join(str(link) for link in chain).lower()
    for words, kind in _KINDS:
        if any(word in text for word in words):
            return kind
    return "connection failed"


def unreachable(platform: str, error: BaseException) -> IntegrationTransientError:
    """A network failure talking to ``platform`` as a transient error naming the platform, the kind of failure and the
    exception's class, never its message."""
    return IntegrationTransientError(
        f"{platform} could not be reached: {failure_kind(error)} ({type(error).__name__})."
    )
