"""What a sync run records after its platform's error, and what comes of it: the platform blocking the audience pauses
the destination; the rest is its connection's one policy (``audiences.connections``): pause for a person, wait out a
rate limit, or nothing for a refused request."""

from __future__ import annotations

from audiences.connections import connection_failed
from audiences.models import Destination, SyncRun
from integrations.errors import IntegrationBlockedError, IntegrationError


def run_failed(run: SyncRun, destination: Destination, error: IntegrationError) -> None:
    """A run that ended on the platform's error: it says why, and what happens next. The platform refusing this
    audience itself (Meta's restricted audiences, Google's terms or consent) pauses this destination alone, until a
    person switches it on again; the rest is the connection's."""
    run.status = SyncRun.Status.FAILED
    if isinstance(error, IntegrationBlockedError):
        Destination.objects.filter(pk=destination.pk).update(is_active=False)
        then = "The destination is paused."
    else:
        then = connection_failed(destination.connection, error)
    run.error = f"{error} {then}".strip()[:2000]
