"""Google's conversions through the Data Manager API: one IngestEventsRequest a batch to the conversion action
(product_destination_id), each event with its transaction_id (Google deduplicates by it), click ids (gclid, gbraid,
wbraid), value and currency, hashed user data and consent; the answer's request_id can be asked about later."""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.ads import datamanager_v1 as dm
from google.protobuf import timestamp_pb2  # type: ignore[import-untyped]

from integrations.conversions import Conversion, Delivered, major_units
from integrations.errors import (
    IntegrationPermanentError,
)
from integrations.google import datamanager as google_audiences

GOOGLE_BATCH = 2_000  # Data Manager's limit per IngestEvents request


class GoogleConversionSender:
    batch_size = GOOGLE_BATCH
    max_age = dt.timedelta(days=90)  # Google Ads' longest click-through conversion window
    max_age_text = "90 days (Google)"

    def __init__(
        self,
        *,
        credentials: str,
        customer_id: str,
        conversion_action_id: str,
        login_customer_id: str = "",
        endpoint: str | None = None,
    ) -> None:
        self._client = dm.IngestionServiceClient(
            credentials=google_audiences.credentials_from(credentials),
            transport="rest",
            client_options=google_audiences.client_options(endpoint),
        )
        self._destination = dm.Destination(
            operating_account=google_audiences.product_account(customer_id),
            login_account=google_audiences.product_account(login_customer_id) if login_customer_id else None,
            product_destination_id=conversion_action_id,
        )

    def send(self, conversions: list[Conversion]) -> Delivered:
        if len(conversions) > GOOGLE_BATCH:
            raise IntegrationPermanentError(f"At most {GOOGLE_BATCH} events go in one Google request.")
        request = dm.IngestEventsRequest(
            destinations=[self._destination],
            events=[self._event(conversion) for conversion in conversions],
            encoding=dm.Encoding.HEX,
        )
        try:
            answer: Any = self._client.ingest_events(request=request, retry=None, timeout=60.0)
        except google_audiences.GOOGLE_FAILURES as error:
            raise google_audiences.google_error(error) from None
        return Delivered(received=len(conversions), reference=answer.request_id)

    @staticmethod
    def _event(conversion: Conversion) -> dm.Event:
        timestamp = timestamp_pb2.Timestamp()
        timestamp.FromDatetime(conversion.occurred_at.astimezone(dt.UTC))
        event = dm.Event(
            transaction_id=conversion.transaction_id or conversion.event_id,
            event_timestamp=timestamp,
            consent=google_audiences.CONSENT_GRANTED,
            event_source=dm.EventSource.WEB if conversion.user_agent else dm.EventSource.OTHER,
        )
        if conversion.user_agent or conversion.client_ip:
            event.event_device_info = dm.DeviceInfo(
                user_agent=conversion.user_agent or None, ip_address=conversion.client_ip or None
            )
        identifiers = google_audiences.identifiers_of(conversion.hashes)
        if identifiers:
            event.user_data = dm.UserData(user_identifiers=identifiers)
        if conversion.gclid or conversion.gbraid or conversion.wbraid:
            event.ad_identifiers = dm.AdIdentifiers(
                gclid=conversion.gclid or None, gbraid=conversion.gbraid or None, wbraid=conversion.wbraid or None
            )
        if conversion.value_minor is not None and conversion.currency:
            event.conversion_value = major_units(conversion.value_minor, conversion.currency)
            event.currency = conversion.currency
        return event
