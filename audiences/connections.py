"""What a connection does after its platform's answer, for every sender that goes through it (audience syncs and
server-side conversions alike): one pause policy, one backoff and one daily credentials check.

- Refused credentials **pause** the connection with the platform's reason: nothing is sent through it until a person
  fixes it (saving new credentials, or *Check the credentials now*) or the daily check finds that they work again.
- A rate limit or an outage makes it **wait**: as long as the platform said, else a backoff that doubles with each
  failure in a row (one minute, two, four, … at most six hours, ±20 %). Any success ends the run of failures.
- Any other refusal concerns one request or one audience, not the connection: the sender records it (a sync pauses
  the one destination the platform blocked) and goes on.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from audiences.models import Connection
from integrations.accounts import customer_id_normalized
from integrations.errors import (
    IntegrationCredentialsError,
    IntegrationError,
    IntegrationTransientError,
)
from integrations.google import ads as google_ads
from integrations.google import datamanager as google_datamanager
from integrations.meta import audiences as meta_audiences

BACKOFF_FIRST = 60  # seconds after the first failure in a row
BACKOFF_MAX = 6 * 3600


def _meta_verify(connection: Connection) -> None:
    if connection.account_id.strip():  # a connection for a pixel alone names no ad account to read
        meta_audiences.credentials_check(
            access_token=connection.credentials,
            ad_account_id=connection.account_id,
            app_secret=settings.META_APP_SECRET,
            graph_url=settings.META_GRAPH_URL or None,
        )


def google_ids(connection: Connection) -> tuple[str, str]:
    """A Google connection's customer id and manager account id, as digits (``""`` where there is none)."""
    return customer_id_normalized(connection.account_id), customer_id_normalized(connection.login_customer_id)


def _google_verify(connection: Connection) -> None:
    customer_id, login = google_ids(connection)
    if connection.google_api == Connection.GoogleApi.GOOGLE_ADS:
        google_ads.credentials_check(
            credentials=connection.credentials,
            customer_id=customer_id,
            login_customer_id=login,
            endpoint=settings.GOOGLE_ADS_ENDPOINT or None,
        )
    elif customer_id:
        google_datamanager.credentials_check(
            credentials=connection.credentials,
            customer_id=customer_id,
            endpoint=settings.GOOGLE_DATAMANAGER_URL or None,
        )


# How to ask a platform whether a connection's credentials still reach its account (raises its integration error if
# not), by ``Connection.platform``; a platform without an entry has nothing to ask (the sandbox; a webhook's secret
# is ours).
VERIFIERS: dict[str, Callable[[Connection], None]] = {
    Connection.Platform.META: _meta_verify,
    Connection.Platform.GOOGLE: _google_verify,
}


def credentials_verify(connection: Connection) -> None:
    """Ask the connection's platform whether its credentials reach its account: raises the platform's integration
    error if not. The connection need not be saved."""
    verify = VERIFIERS.get(connection.platform)
    if verify is not None:
        verify(connection)


def backoff(error: IntegrationTransientError, failures: int) -> dt.timedelta:
    """How long to wait after the ``failures``-th transient failure in a row: the platform's own wait if it gave one."""
    if error.retry_after:
        return dt.timedelta(seconds=error.retry_after)
    seconds = min(BACKOFF_FIRST * 2 ** max(failures - 1, 0), BACKOFF_MAX)
    return dt.timedelta(seconds=seconds * random.uniform(0.8, 1.2))  # noqa: S311  (jitter, not a secret)


def connection_failed(connection: Connection, error: IntegrationError) -> str:
    """Apply the pause policy to the platform's error; returns what happens next, to end the sender's message with
    (``""`` when the error concerns one request only)."""
    if isinstance(error, IntegrationCredentialsError):
        return connection_pause(connection, error)
    if isinstance(error, IntegrationTransientError):
        failures = connection.failures + 1
        wait = backoff(error, failures)
        connection.failures, connection.wait_until = failures, timezone.now() + wait
        Connection.objects.filter(pk=connection.pk).update(failures=F("failures") + 1, wait_until=connection.wait_until)
        return f"Next attempt after a {max(1, round(wait.total_seconds() / 60))}-minute pause."
    return ""


def connection_pause(connection: Connection, error: IntegrationError, *, found_by: str = "") -> str:
    """Nothing more goes through the connection until a person fixes it (``found_by`` names a check that found it);
    returns the sentence that says so."""
    connection.paused_reason = f"{found_by}{error}"[:500]
    Connection.objects.filter(pk=connection.pk).update(paused_reason=connection.paused_reason)
    return f"The connection {connection.name!r} is paused until its credentials are fixed."


def connection_succeeded(connection: Connection) -> None:
    """The platform took a request: the run of failures is over (the last wait stays on record; it has passed)."""
    if connection.failures:
        connection.failures = 0
        Connection.objects.filter(pk=connection.pk).update(failures=0)


def connection_check(connection: Connection) -> bool | None:
    """Ask the platform whether the credentials work: True (a paused connection resumes), False (paused now, with
    the platform's reason) or None (the platform could not be asked; nothing changes)."""
    try:
        credentials_verify(connection)
    except IntegrationCredentialsError as error:
        connection_pause(connection, error, found_by="Daily credentials check: ")
        return False
    except IntegrationError:
        return None  # unreachable or throttled: the next check, or the next send, will tell
    connection.paused_reason, connection.checked_at = "", timezone.now()
    Connection.objects.filter(pk=connection.pk).update(paused_reason="", checked_at=connection.checked_at)
    return True


def connections_check() -> int:
    """The daily check of every switched-on connection, paused ones included (they resume if their credentials work
    again); returns how many it paused that were sending."""
    paused = 0
    for connection in Connection.objects.filter(is_active=True).order_by("pk"):
        was_paused = bool(connection.paused_reason)
        paused += connection_check(connection) is False and not was_paused
    return paused
