"""What a destination does after its platform's error: pause for a person, wait out a rate limit, or try again later."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from audiences.models import Destination, SyncRun
from audiences.sync.platforms import credentials_verify
from integrations.errors import (
    IntegrationBlockedError,
    IntegrationCredentialsError,
    IntegrationError,
    IntegrationTransientError,
)

TRANSIENT_PAUSE = 300  # seconds before the next scheduled attempt when a platform kept failing without saying


def run_failed(run: SyncRun, destination: Destination, error: IntegrationError) -> None:
    """A run that ended on the platform's error: what the destination does next depends on the kind of error."""
    run.status = SyncRun.Status.FAILED
    if isinstance(error, IntegrationCredentialsError | IntegrationBlockedError):
        # Waiting for a person: the schedule stops until the destination is fixed and switched on again.
        run.error = f"{error} The destination is paused."[:2000]
        Destination.objects.filter(pk=destination.pk).update(is_active=False)
    elif isinstance(error, IntegrationTransientError):
        # The platform asked for a pause (or kept failing): the schedule waits as long as it said, else a while.
        wait = dt.timedelta(seconds=error.retry_after or TRANSIENT_PAUSE)
        run.error = f"{error} Next attempt after a {_minutes(wait)} pause."[:2000]
        Destination.objects.filter(pk=destination.pk).update(wait_until=timezone.now() + wait)
    else:
        run.error = str(error)[:2000]


def destination_credentials_check(*, destination: Destination) -> SyncRun | None:
    """The daily check: a token its platform refuses pauses the destination and leaves a failed run saying why;
    returns that run, else None."""
    try:
        credentials_verify(destination)
    except IntegrationCredentialsError as error:
        now = timezone.now()
        run = SyncRun(destination=destination, started_at=now, finished_at=now)
        run_failed(run, destination, error)  # pauses it, as a sync refused for its credentials does
        run.error = f"Daily credentials check: {run.error}"[:2000]
        run.save()
        return run
    except IntegrationError:
        return None  # the platform unreachable or throttled: the next check, or the next sync, will tell
    return None


def _minutes(wait: dt.timedelta) -> str:
    return f"{max(1, round(wait.total_seconds() / 60))}-minute"
