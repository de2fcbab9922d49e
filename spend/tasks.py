"""Celery entry points for ad spend: thin, idempotent (an import replaces the days it reads)."""

from __future__ import annotations

import datetime as dt

from celery import Task, shared_task
from django.db import DatabaseError

from integrations.errors import IntegrationTransientError
from spend import services
from spend.models import AdAccount


@shared_task(name="spend.import_recent", acks_late=True, ignore_result=True)
def spend_import_recent() -> int:
    """Beat, nightly: each active account's last 28 days read again (platforms restate them)."""
    due = services.accounts_due()
    for account in due:
        spend_import_account.delay(account_pk=account.pk)
    return len(due)


@shared_task(
    bind=True,
    name="spend.import_account",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=60,
    retry_backoff_max=3600,
    max_retries=8,
)
def spend_import_account(self: Task, *, account_pk: int, since: str = "", until: str = "") -> str | None:
    """Import one account's range (default: its recent days). Throttling is retried after the wait the platform
    asked for (doubling from a minute when it named none)."""
    account = AdAccount.objects.filter(pk=account_pk, is_active=True, paused_reason="").first()
    if account is None:
        return None
    start, end = services.recent_range(account)
    if since and until:
        start, end = dt.date.fromisoformat(since), dt.date.fromisoformat(until)
    try:
        return services.spend_import(account=account, since=start, until=end).status
    except IntegrationTransientError as error:
        wait = error.retry_after or 60 * 2**self.request.retries
        raise self.retry(countdown=min(wait, 3600)) from None
