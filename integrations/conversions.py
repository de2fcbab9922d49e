"""Server-side conversions: Meta's Conversions API (``facebook-business``) and Google's Data Manager events.

A ``Conversion`` arrives with its identifiers already normalized and hashed for each platform by
``integrations.identifiers``, so the SDKs hash nothing themselves (Meta's passes SHA-256 hex through unchanged).

* **Meta**: ``event_id`` is Ladder's event id, so a browser pixel event with the same id and name is deduplicated
  with it; ``fbc``, ``fbp``, client IP and user agent go in clear, as Meta asks; ``external_id`` is hashed here.
  ``action_source`` is ``website`` when the conversion has the browser's user agent (Meta requires it for website
  events), else ``system_generated``. Meta refuses a whole request if any event is older than seven days, so such
  events are never sent: the caller drops them with ``too_old`` first. ``test_event_code`` routes to Test Events.
* **Google**: one ``IngestEventsRequest`` a batch to the conversion action (``product_destination_id``), each
  event with its ``transaction_id`` (Google deduplicates by it), click ids (gclid, gbraid, wbraid), value and
  currency, hashed user data and consent; the answer's ``request_id`` can be asked about later.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import requests
from facebook_business.adobjects.adspixel import AdsPixel
from facebook_business.adobjects.serverside.action_source import ActionSource
from facebook_business.adobjects.serverside.custom_data import CustomData
from facebook_business.adobjects.serverside.event import Event as MetaEvent
from facebook_business.adobjects.serverside.event_request import EventRequest
from facebook_business.adobjects.serverside.user_data import UserData as MetaUserData
from facebook_business.exceptions import FacebookError, FacebookRequestError
from google.ads import datamanager_v1 as dm
from google.protobuf import timestamp_pb2  # type: ignore[import-untyped]

from common.money import currency_exponent
from integrations import google_audiences, meta_audiences
from integrations.errors import (
    IntegrationCredentialsError,
    IntegrationPermanentError,
    IntegrationTransientError,
    unreachable,
)
from integrations.identifiers import sha256_hex

META_MAX_AGE = dt.timedelta(days=7)  # Meta refuses a request holding any older event
GOOGLE_MAX_AGE = dt.timedelta(days=90)  # Google Ads' longest click-through conversion window
META_BATCH = 500  # Meta takes up to 1,000 events a request
GOOGLE_BATCH = 2_000  # Data Manager's limit per IngestEvents request
EVENT_NAMES = {"optin": "Lead", "purchase": "Purchase"}


@dataclass(frozen=True, kw_only=True, slots=True)
class Conversion:
    """One conversion to report: who (hashed per platform), when, from which click and browser, and for how much."""

    event_id: str
    name: str  # Meta's standard event name: Lead, Purchase
    occurred_at: dt.datetime
    meta_hashes: dict[str, str] = field(default_factory=dict)  # EMAIL, PHONE, FN, LN, CT, ST, ZIP, COUNTRY
    google_hashes: dict[str, str] = field(default_factory=dict)  # email_address, phone_number, address parts
    external_id: str = ""  # Ladder's id for the person, hashed before it leaves
    client_ip: str = ""
    user_agent: str = ""
    fbc: str = ""
    fbp: str = ""
    gclid: str = ""
    gbraid: str = ""
    wbraid: str = ""
    source_url: str = ""
    value_minor: int | None = None
    currency: str = ""
    transaction_id: str = ""


@dataclass(frozen=True, slots=True)
class Delivered:
    received: int
    reference: str = ""  # Meta's fbtrace_id, Google's request_id
    messages: list[str] = field(default_factory=list)


def too_old(conversion: Conversion, *, platform: str, now: dt.datetime) -> bool:
    return now - conversion.occurred_at > (META_MAX_AGE if platform == "meta" else GOOGLE_MAX_AGE)


def _major(value_minor: int, currency: str) -> float:
    return value_minor / 10 ** currency_exponent(currency)


_META_FIELDS = {
    "EMAIL": "emails",
    "PHONE": "phones",
    "FN": "first_names",
    "LN": "last_names",
    "CT": "cities",
    "ST": "states",
    "ZIP": "zip_codes",
    "COUNTRY": "country_codes",
}


class MetaConversionSender:
    platform = "meta"
    batch_size = META_BATCH

    def __init__(self, *, access_token: str, pixel_id: str, app_secret: str = "", test_event_code: str = "") -> None:
        if not access_token:
            raise IntegrationCredentialsError("This Meta conversions destination has no access token.")
        self._api = meta_audiences.graph_api(access_token, app_secret)
        self.pixel_id = pixel_id
        self.test_event_code = test_event_code

    def send(self, conversions: list[Conversion]) -> Delivered:
        events = [self._event(conversion) for conversion in conversions]
        request = EventRequest(pixel_id=self.pixel_id, events=events, test_event_code=self.test_event_code or None)
        try:
            answer = AdsPixel(self.pixel_id, api=self._api).create_event(fields=[], params=request.get_params())
        except FacebookRequestError as error:
            raise meta_audiences.meta_error(error) from None
        except requests.RequestException as error:
            raise unreachable("Meta", error) from None
        except FacebookError as error:
            raise IntegrationPermanentError(f"Meta's SDK refused the request: {str(error)[:300]}") from None
        received = answer.get("events_received") if hasattr(answer, "get") else None
        if received is None:  # the SDK takes any answer that is not JSON for a success
            raise IntegrationTransientError("Meta answered without saying how many events it received.")
        return Delivered(
            received=int(received),
            reference=str(answer.get("fbtrace_id") or ""),
            messages=[str(m)[:300] for m in answer.get("messages") or []],
        )

    @staticmethod
    def _event(conversion: Conversion) -> MetaEvent:
        user = MetaUserData(
            client_ip_address=conversion.client_ip or None,
            client_user_agent=conversion.user_agent or None,
            fbc=conversion.fbc or None,
            fbp=conversion.fbp or None,
        )
        for key, attribute in _META_FIELDS.items():
            if value := conversion.meta_hashes.get(key):
                setattr(user, attribute, [value])
        if conversion.external_id:
            user.external_ids = [sha256_hex(conversion.external_id)]  # as the audiences' EXTERN_ID
        custom = None
        if conversion.value_minor is not None and conversion.currency:
            custom = CustomData(
                value=_major(conversion.value_minor, conversion.currency),
                currency=conversion.currency.lower(),
                order_id=conversion.transaction_id or None,
            )
        return MetaEvent(
            event_name=conversion.name,
            event_time=int(conversion.occurred_at.timestamp()),
            event_id=conversion.event_id,
            event_source_url=conversion.source_url or None,
            action_source=ActionSource.WEBSITE if conversion.user_agent else ActionSource.SYSTEM_GENERATED,
            user_data=user,
            custom_data=custom,
        )


class GoogleConversionSender:
    platform = "google"
    batch_size = GOOGLE_BATCH

    def __init__(
        self, *, credentials: str, customer_id: str, conversion_action_id: str, login_customer_id: str = ""
    ) -> None:
        self._client = dm.IngestionServiceClient(
            credentials=google_audiences.credentials_from(credentials),
            transport="rest",
            client_options=google_audiences.client_options(),
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
        identifiers = google_audiences.identifiers_of(conversion.google_hashes)
        if identifiers:
            event.user_data = dm.UserData(user_identifiers=identifiers)
        if conversion.gclid or conversion.gbraid or conversion.wbraid:
            event.ad_identifiers = dm.AdIdentifiers(
                gclid=conversion.gclid or None, gbraid=conversion.gbraid or None, wbraid=conversion.wbraid or None
            )
        if conversion.value_minor is not None and conversion.currency:
            event.conversion_value = _major(conversion.value_minor, conversion.currency)
            event.currency = conversion.currency
        return event
