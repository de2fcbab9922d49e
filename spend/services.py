"""Importing what campaigns cost: an ad account's days read from its platform and stored, replacing what an earlier
import stored for the same days (platforms restate recent days, so a re-read never adds to what was there).

An import reads its range in windows of ``WINDOW_DAYS`` and stores each window in one transaction: a back-fill of a
year shows its progress and keeps what it finished if it stops. A refused credential pauses the account with the
platform's reason (imports skip it until the credentials are saved again); throttling records the platform's wait
and raises, so the task retries after it; any other refusal ends the import failed with the platform's reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations.ad_spend import AccountInfo
from integrations.ad_spend import CampaignDay as CampaignDayRow
from integrations.errors import (
    IntegrationCredentialsError,
    IntegrationError,
    IntegrationPermanentError,
    IntegrationTransientError,
    failure_kind,
)
from integrations.meta.insights import MetaSpendReader
from spend.models import AdAccount, CampaignDay, ClickCampaign, SpendImport

WINDOW_DAYS = 31
RECENT_DAYS = 28  # re-read every night: Meta restates conversions (and spend) inside its attribution windows
CLICK_DAYS = 90  # Google's click_view answers for the last 90 days


class SpendReader(Protocol):
    def account(self) -> AccountInfo: ...

    def campaign_days(self, since: dt.date, until: dt.date) -> Iterable[CampaignDayRow]: ...

    def click_campaigns(self, day: dt.date) -> Iterable[tuple[str, str]]:
        """(click id, campaign id) of the day's clicks, where the platform tells (Google's click_view)."""
        ...


def _meta_reader(account: AdAccount) -> SpendReader:
    return MetaSpendReader(
        access_token=account.credentials,
        ad_account_id=account.account_id,
        app_secret=settings.META_APP_SECRET,
        graph_url=settings.META_GRAPH_URL or None,
    )


def _google_reader(account: AdAccount) -> SpendReader:
    from integrations.google.spend import GoogleSpendReader  # gRPC is loaded only where a Google account is read

    return GoogleSpendReader(
        credentials=account.credentials,
        customer_id=account.account_id,
        login_customer_id=account.login_customer_id,
        endpoint=settings.GOOGLE_ADS_ENDPOINT or None,
    )


# One entry a platform, keyed by ``AdAccount.platform``: nothing else here asks which platform it reads.
SPEND_READERS: dict[str, Callable[[AdAccount], SpendReader]] = {
    AdAccount.Platform.META: _meta_reader,
    AdAccount.Platform.GOOGLE: _google_reader,
}


def reader_for(account: AdAccount) -> SpendReader:
    try:
        make = SPEND_READERS[account.platform]
    except KeyError:
        raise IntegrationPermanentError(f"Ladder cannot read spend from {account.platform!r} accounts.") from None
    return make(account)


def account_check(*, account: AdAccount, reader: SpendReader | None = None) -> AccountInfo:
    """Read the account's name, currency and time zone with its credentials and keep them; a paused account is
    resumed. Raises IntegrationError with the platform's reason when the credentials cannot read it."""
    info = (reader or reader_for(account)).account()
    account.name, account.currency, account.time_zone = info.name[:200], info.currency, info.time_zone
    account.paused_reason, account.wait_until = "", None
    if account.pk:
        account.save(update_fields=["name", "currency", "time_zone", "paused_reason", "wait_until"])
    return info


def windows(since: dt.date, until: dt.date, days: int = WINDOW_DAYS) -> Iterator[tuple[dt.date, dt.date]]:
    """``since``..``until`` (both included) cut into consecutive windows of at most ``days`` days."""
    start = since
    while start <= until:
        end = min(start + dt.timedelta(days=days - 1), until)
        yield start, end
        start = end + dt.timedelta(days=1)


def spend_import(
    *,
    account: AdAccount,
    since: dt.date,
    until: dt.date,
    reader: SpendReader | None = None,
    progress: Callable[[int], None] | None = None,
) -> SpendImport:
    """Import ``since``..``until`` (the account's days, both included); ``progress`` hears the days done."""
    if until < since:
        raise ValueError("until is before since")
    record = SpendImport.objects.create(account=account, since=since, until=until, started_at=timezone.now())
    try:
        reader = reader or reader_for(account)
        if not account.currency:
            account_check(account=account, reader=reader)
        for start, end in windows(since, until):
            record.rows += _window_store(account, start, end, reader.campaign_days(start, end))
            record.save(update_fields=["rows"])
            if progress is not None:
                progress((end - start).days + 1)
        _clicks_store(account, since, until, reader)
    except IntegrationCredentialsError as error:
        _end(record, error)
        account.paused_reason = str(error)[:500]
        account.save(update_fields=["paused_reason"])
        return record
    except IntegrationTransientError as error:
        _end(record, error)
        if error.retry_after:
            account.wait_until = timezone.now() + dt.timedelta(seconds=error.retry_after)
            account.save(update_fields=["wait_until"])
        raise
    except IntegrationError as error:
        _end(record, error)
        return record
    record.status, record.finished_at = SpendImport.Status.SUCCEEDED, timezone.now()
    record.save(update_fields=["status", "finished_at"])
    account.last_imported_at, account.wait_until = record.finished_at, None
    account.save(update_fields=["last_imported_at", "wait_until"])
    return record


def _window_store(account: AdAccount, since: dt.date, until: dt.date, rows: Iterable[CampaignDayRow]) -> int:
    """Replace the window's rows with what the platform says now (read first: a failed read changes nothing)."""
    now = timezone.now()
    latest: dict[tuple[str, dt.date], CampaignDayRow] = {}
    for row in rows:
        if since <= row.day <= until:
            latest[(row.campaign_id, row.day)] = row
    with transaction.atomic():
        CampaignDay.objects.filter(account=account, day__gte=since, day__lte=until).delete()
        CampaignDay.objects.bulk_create(
            [
                CampaignDay(
                    account=account,
                    campaign_id=row.campaign_id,
                    campaign_name=row.campaign_name,
                    day=row.day,
                    currency=row.currency or account.currency,
                    spend_minor=row.spend_minor,
                    impressions=row.impressions,
                    clicks=row.clicks,
                    platform_conversions=row.platform_conversions,
                    platform_conversion_value_minor=row.platform_conversion_value_minor,
                    imported_at=now,
                )
                for row in latest.values()
            ],
            batch_size=2000,
        )
    return len(latest)


def _clicks_store(account: AdAccount, since: dt.date, until: dt.date, reader: SpendReader) -> None:
    """Each day's clicks and their campaigns, for the days the platform still answers for (Google: 90)."""
    first = max(since, timezone.localdate() - dt.timedelta(days=CLICK_DAYS - 1))
    day = first
    while day <= until:
        found = dict(reader.click_campaigns(day))
        if found:
            ClickCampaign.objects.bulk_create(
                [ClickCampaign(account=account, gclid=g, campaign_id=c, day=day) for g, c in found.items()],
                batch_size=2000,
                update_conflicts=True,
                unique_fields=["gclid"],
                update_fields=["account", "campaign_id", "day"],
            )
        day += dt.timedelta(days=1)


def _end(record: SpendImport, error: BaseException) -> None:
    record.status, record.finished_at = SpendImport.Status.FAILED, timezone.now()
    record.error = (str(error) or failure_kind(error))[:500]
    record.save(update_fields=["status", "finished_at", "error"])


def recent_range(account: AdAccount, *, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last ``RECENT_DAYS`` days up to today, in the account's time zone."""
    if today is None:
        today = timezone.localdate(timezone=_zone(account.time_zone))
    return today - dt.timedelta(days=RECENT_DAYS - 1), today


def _zone(name: str) -> dt.tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def accounts_due(*, now: dt.datetime | None = None) -> list[AdAccount]:
    """Active accounts not paused and not asked to wait."""
    now = now or timezone.now()
    return [
        a
        for a in AdAccount.objects.filter(is_active=True, paused_reason="")
        if a.wait_until is None or a.wait_until <= now
    ]
