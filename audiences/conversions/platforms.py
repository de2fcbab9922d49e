"""The platforms conversions are reported to, in one registry keyed by ``Connection.platform``: nothing else in the
conversions asks which platform it talks to."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from audiences.models import Connection, ConversionDestination
from integrations.accounts import customer_id_normalized
from integrations.conversions import ConversionSender
from integrations.errors import IntegrationPermanentError
from integrations.google.conversions import GoogleConversionSender
from integrations.identifiers import GoogleHasher, MetaHasher
from integrations.meta.conversions import MetaConversionSender
from integrations.protocols import Hasher


@dataclass(frozen=True, slots=True)
class ConversionPlatform:
    """How to report conversions to one platform: its client for a destination, and how it hashes people."""

    sender: Callable[[ConversionDestination], ConversionSender]
    hasher: Callable[[], Hasher]
    max_age: dt.timedelta  # older events are dropped, never sent
    max_age_text: str


def _meta_sender(destination: ConversionDestination) -> ConversionSender:
    return MetaConversionSender(
        access_token=destination.connection.credentials,
        pixel_id=destination.remote_id.strip(),
        app_secret=settings.META_APP_SECRET,
        test_event_code=destination.test_event_code.strip(),
        graph_url=settings.META_GRAPH_URL or None,
    )


def _google_sender(destination: ConversionDestination) -> ConversionSender:
    connection = destination.connection
    return GoogleConversionSender(
        credentials=connection.credentials,
        customer_id=customer_id_normalized(connection.account_id),
        conversion_action_id=destination.remote_id.strip(),
        login_customer_id=customer_id_normalized(connection.login_customer_id),
        endpoint=settings.GOOGLE_DATAMANAGER_URL or None,
    )


CONVERSION_PLATFORMS: dict[str, ConversionPlatform] = {
    Connection.Platform.META: ConversionPlatform(
        sender=_meta_sender,
        hasher=MetaHasher,
        max_age=MetaConversionSender.max_age,
        max_age_text=MetaConversionSender.max_age_text,
    ),
    Connection.Platform.GOOGLE: ConversionPlatform(
        sender=_google_sender,
        hasher=GoogleHasher,
        max_age=GoogleConversionSender.max_age,
        max_age_text=GoogleConversionSender.max_age_text,
    ),
}


def conversion_platform(name: str) -> ConversionPlatform:
    try:
        return CONVERSION_PLATFORMS[name]
    except KeyError:
        raise IntegrationPermanentError(f"Ladder cannot report conversions to {name!r} connections.") from None


def sender_for(destination: ConversionDestination) -> ConversionSender:
    return conversion_platform(destination.platform).sender(destination)
