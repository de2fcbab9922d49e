"""Daily campaign cost from the Google Ads API through the official ``google-ads`` client.

One ``GoogleAdsService.search_stream`` per import, with GAQL over ``campaign`` segmented by ``segments.date``:
Google streams batches of up to 10,000 rows over one connection (no page tokens). Cost is ``metrics.cost_micros``
in the customer's currency (``customer.currency_code``), days are in its time zone (``customer.time_zone``); the
client's errors are mapped as for Customer Match (``google_ads_audiences.ads_error``: quota errors transient with
Google's retry delay, authentication and authorization errors credential errors, never an address or a token).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from common.money import Money, UnknownCurrency, currency_exponent
from integrations.accounts import customer_id_normalized
from integrations.ad_spend import AccountInfo, CampaignDay
from integrations.errors import IntegrationPermanentError
from integrations.google.ads import ADS_FAILURES, ads_error, client_for

ACCOUNT_QUERY = "SELECT customer.descriptive_name, customer.currency_code, customer.time_zone FROM customer"
DAYS_QUERY = (
    "SELECT customer.currency_code, campaign.id, campaign.name, segments.date, metrics.cost_micros, "
    "metrics.impressions, metrics.clicks, metrics.conversions, metrics.conversions_value "
    "FROM campaign WHERE segments.date BETWEEN '{since}' AND '{until}'"
)


CLICKS_QUERY = "SELECT click_view.gclid, campaign.id FROM click_view WHERE segments.date = '{day}'"
CLICK_DAYS = 90  # click_view answers for one day at a time, at most 90 days back


class GoogleSpendReader:
    def __init__(
        self, *, credentials: str, customer_id: str, login_customer_id: str = "", endpoint: str | None = None
    ) -> None:
        self.customer_id = customer_id_normalized(customer_id)
        if not self.customer_id:
            raise IntegrationPermanentError("A Google Ads customer id is ten digits, e.g. 123-456-7890.")
        self._client = client_for(
            credentials, login_customer_id=customer_id_normalized(login_customer_id), endpoint=endpoint
        )
        self._service = self._client.get_service("GoogleAdsService")

    def account(self) -> AccountInfo:
        rows = self._rows(ACCOUNT_QUERY)
        found = next(rows, None)
        if found is None:
            raise IntegrationPermanentError("Google Ads returned no customer for this id.")
        customer = found.customer
        return AccountInfo(
            name=str(customer.descriptive_name or self.customer_id),
            currency=str(customer.currency_code).upper(),
            time_zone=str(customer.time_zone or "UTC"),
        )

    def campaign_days(self, since: dt.date, until: dt.date) -> Iterator[CampaignDay]:
        query = DAYS_QUERY.format(since=since.isoformat(), until=until.isoformat())  # dates from date objects only
        for row in self._rows(query):
            yield _campaign_day(row)

    def click_campaigns(self, day: dt.date) -> Iterator[tuple[str, str]]:
        """(GCLID, campaign id) of every click of ``day`` (``click_view``: one day per query, 90 days back)."""
        for row in self._rows(CLICKS_QUERY.format(day=day.isoformat())):
            if row.click_view.gclid:
                yield str(row.click_view.gclid), str(row.campaign.id)

    def _rows(self, query: str) -> Iterator[Any]:
        """The query's rows. Each stream is read to its end before any row is handed on: a stream left half-read
        would be cancelled by its finalizer whenever the garbage collector ran, which can happen while another call
        on the same channel holds gRPC's locks, and then neither finishes (a hang seen in the test suite)."""
        try:
            rows = [
                row
                for batch in self._service.search_stream(customer_id=self.customer_id, query=query)
                for row in batch.results
            ]
        except ADS_FAILURES as error:
            raise ads_error(error) from None
        return iter(rows)


def _campaign_day(row: Any) -> CampaignDay:
    currency = str(row.customer.currency_code).upper()
    try:
        micros_per_minor = 10 ** (6 - currency_exponent(currency))
        return CampaignDay(
            campaign_id=str(row.campaign.id),
            campaign_name=str(row.campaign.name)[:300],
            day=dt.date.fromisoformat(str(row.segments.date)),
            currency=currency,
            # Google's cost is in millionths of the currency unit; rounded half up to a whole minor unit.
            spend_minor=(int(row.metrics.cost_micros) + micros_per_minor // 2) // micros_per_minor,
            impressions=int(row.metrics.impressions),
            clicks=int(row.metrics.clicks),
            platform_conversions=Decimal(str(row.metrics.conversions)).quantize(Decimal("0.01")),
            platform_conversion_value_minor=Money.from_decimal(
                Decimal(str(row.metrics.conversions_value)), currency
            ).amount_minor,
        )
    except (ValueError, UnknownCurrency) as error:
        raise IntegrationPermanentError(
            f"Google Ads sent a cost row Ladder cannot read ({error.__class__.__name__})."
        ) from None
