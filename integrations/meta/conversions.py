"""Meta's Conversions API through the facebook-business SDK: event_id is Ladder's event id, so a browser pixel event
with the same id and name is deduplicated with it; fbc, fbp, client IP and user agent go in clear, as Meta asks;
external_id is hashed here. action_source is website when the conversion has the browser's user agent (Meta requires
it for website events), else system_generated. Meta refuses a whole request if any event is older than seven days, so
the caller drops those first (``max_age``). test_event_code routes to Test Events."""

from __future__ import annotations

import datetime as dt

import requests
from facebook_business.adobjects.adspixel import AdsPixel
from facebook_business.adobjects.serverside.action_source import ActionSource
from facebook_business.adobjects.serverside.custom_data import CustomData
from facebook_business.adobjects.serverside.event import Event as MetaEvent
from facebook_business.adobjects.serverside.event_request import EventRequest
from facebook_business.adobjects.serverside.user_data import UserData as MetaUserData
from facebook_business.exceptions import FacebookError, FacebookRequestError

from integrations.conversions import Conversion, Delivered, major_units
from integrations.errors import (
    IntegrationCredentialsError,
    IntegrationPermanentError,
    IntegrationTransientError,
    unreachable,
)
from integrations.identifiers import sha256_hex
from integrations.meta import audiences as meta_audiences

META_BATCH = 500  # Meta takes up to 1,000 events a request


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
    batch_size = META_BATCH
    max_age = dt.timedelta(days=7)  # Meta refuses a request holding any older event
    max_age_text = "seven days (Meta)"

    def __init__(
        self,
        *,
        access_token: str,
        pixel_id: str,
        app_secret: str = "",
        test_event_code: str = "",
        graph_url: str | None = None,
    ) -> None:
        if not access_token:
            raise IntegrationCredentialsError("This Meta conversions destination has no access token.")
        self._api = meta_audiences.graph_api(access_token, app_secret, graph_url=graph_url)
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
            if value := conversion.hashes.get(key):
                setattr(user, attribute, [value])
        if conversion.external_id:
            user.external_ids = [sha256_hex(conversion.external_id)]  # as the audiences' EXTERN_ID
        custom = None
        if conversion.value_minor is not None and conversion.currency:
            custom = CustomData(
                value=major_units(conversion.value_minor, conversion.currency),
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
