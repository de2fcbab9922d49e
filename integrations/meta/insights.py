"""Daily campaign spend from Meta's Insights API through the official ``facebook-business`` SDK.

One asynchronous report per import (``AdAccount.get_insights(is_async=True)``, ``level=campaign``,
``time_increment=1``): Meta builds it, this polls the run (``async_status``) until it is completed, then reads its
rows page by page (the SDK's cursor follows ``paging.cursors.after``). Spend arrives as a decimal string in the
account's currency and is turned into minor units at that currency's exponent. Meta's own purchase count and value
are the pixel's ``offsite_conversion.fb_pixel_purchase`` action, one action type only (the others repeat it).

Errors are mapped as for the audience uploads (``meta_audiences.meta_error``): throttling (4, 17, 80000–80014 …)
is transient with Meta's own wait, an expired token is a credentials error, a failed or skipped report run is
transient (Meta asks to run it again); network failures name Meta and the failure's kind, never the URL.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adreportrun import AdReportRun
from facebook_business.exceptions import FacebookRequestError

from common.money import Money, UnknownCurrency
from integrations.ad_spend import AccountInfo, CampaignDay
from integrations.errors import IntegrationPermanentError, IntegrationTransientError, unreachable
from integrations.meta.audiences import _account_number, graph_api, meta_error

PURCHASE = "offsite_conversion.fb_pixel_purchase"
FIELDS = [
    "campaign_id",
    "campaign_name",
    "date_start",
    "spend",
    "impressions",
    "clicks",
    "actions",
    "action_values",
    "account_currency",
]
PAGE_SIZE = 500
DONE, FAILED = "Job Completed", {"Job Failed", "Job Skipped"}


class MetaSpendReader:
    """Reads one ad account's daily campaign rows. ``sleep`` and ``poll_seconds`` pace the polling of the report
    run (at most ``max_wait`` seconds; Meta says a report can take up to an hour)."""

    def __init__(
        self,
        *,
        access_token: str,
        ad_account_id: str,
        app_secret: str = "",
        poll_seconds: float = 2.0,
        max_wait: float = 3600.0,
        sleep: Callable[[float], None] = time.sleep,
        graph_url: str | None = None,
    ) -> None:
        self.account_id = f"act_{_account_number(ad_account_id)}"
        self._api = graph_api(access_token, app_secret, graph_url=graph_url)
        self.poll_seconds, self.max_wait, self._sleep = poll_seconds, max_wait, sleep

    def account(self) -> AccountInfo:
        """The account's name, currency and time zone (what its spend and its days are counted in)."""
        found = self._call(
            lambda: AdAccount(self.account_id, api=self._api).api_get(fields=["name", "currency", "timezone_name"])
        )
        return AccountInfo(
            name=str(found.get("name") or self.account_id),
            currency=str(found.get("currency") or "").upper(),
            time_zone=str(found.get("timezone_name") or "UTC"),
        )

    def campaign_days(self, since: dt.date, until: dt.date) -> Iterator[CampaignDay]:
        """Every campaign's row for every day from ``since`` to ``until`` (both included) that had any delivery."""
        params = {
            "level": "campaign",
            "time_increment": 1,
            "time_range": {"since": since.isoformat(), "until": until.isoformat()},
            "action_report_time": "conversion",
            "action_attribution_windows": ["7d_click", "1d_view"],
        }
        run = self._call(
            lambda: AdAccount(self.account_id, api=self._api).get_insights(fields=FIELDS, params=params, is_async=True)
        )
        self._wait_for(run)
        pages = self._call(lambda: run.get_insights(params={"limit": PAGE_SIZE}))
        rows = iter(pages)
        while True:
            row = self._call(lambda: next(rows, None))
            if row is None:
                return
            yield _campaign_day(dict(row))

    def click_campaigns(self, day: dt.date) -> Iterator[tuple[str, str]]:
        """Meta does not tell which campaign an fbclid came from: links carry the campaign id in UTM instead."""
        return iter(())

    def _wait_for(self, run: AdReportRun) -> None:
        waited = 0.0
        while True:
            state = self._call(
                lambda: run.api_get(fields=[AdReportRun.Field.async_status, AdReportRun.Field.async_percent_completion])
            )
            status = state.get(AdReportRun.Field.async_status)
            if status == DONE and int(state.get(AdReportRun.Field.async_percent_completion) or 0) >= 100:
                return
            if status in FAILED:
                raise IntegrationTransientError(f"Meta could not build the spend report ({status}); it is run again.")
            if waited >= self.max_wait:
                raise IntegrationTransientError(f"Meta's spend report was not ready after {int(waited)} s.")
            self._sleep(self.poll_seconds)
            waited += self.poll_seconds

    def _call(self, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except FacebookRequestError as error:
            raise meta_error(error) from None
        except requests.RequestException as error:
            raise unreachable("Meta", error) from None


def _campaign_day(row: dict[str, Any]) -> CampaignDay:
    currency = str(row.get("account_currency") or "").upper()
    try:
        return CampaignDay(
            campaign_id=str(row["campaign_id"]),
            campaign_name=str(row.get("campaign_name") or "")[:300],
            day=dt.date.fromisoformat(str(row["date_start"])),
            currency=currency,
            spend_minor=Money.from_decimal(str(row.get("spend") or "0"), currency).amount_minor,
            impressions=int(row.get("impressions") or 0),
            clicks=int(row.get("clicks") or 0),
            platform_conversions=_action(row.get("actions")),
            platform_conversion_value_minor=Money.from_decimal(
                _action(row.get("action_values")), currency
            ).amount_minor,
        )
    except (KeyError, ValueError, InvalidOperation, UnknownCurrency) as error:
        raise IntegrationPermanentError(
            f"Meta sent a spend row Ladder cannot read ({error.__class__.__name__})."
        ) from None


def _action(entries: Any) -> Decimal:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("action_type") == PURCHASE:
            return Decimal(str(entry.get("value") or "0"))
    return Decimal(0)
