"""The platforms audiences sync to, in one registry keyed by ``Destination.platform``.

Each entry says how to reach the platform for a destination (its client, with the platform audience made on the first
sync), how it hashes people and how many rows one request takes (how a connection's credentials are checked is in
``audiences.connections``). Nothing else in the sync asks which platform it talks to: adding a platform is a package
under ``integrations`` and one ``platform_register`` line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from audiences.connections import google_ids
from audiences.models import Connection, Destination
from integrations.audience_upload import AudienceUploader
from integrations.errors import IntegrationPermanentError
from integrations.google import ads as google_ads_audiences
from integrations.google import datamanager as google_audiences
from integrations.identifiers import GoogleHasher, MetaHasher
from integrations.meta import audiences as meta_audiences
from integrations.protocols import Hasher
from integrations.sandbox.upload import SandboxUploader
from integrations.webhook.upload import WebhookUploader


@dataclass(frozen=True, slots=True)
class Platform:
    connect: Callable[[Destination], AudienceUploader]
    hasher: Callable[[], Hasher] = MetaHasher  # Meta's multi-key schema unless the platform has its own
    batch_size: int = 10_000
    full_replace: bool = False  # the weekly reconcile replaces the platform's audience with the ledger's


PLATFORMS: dict[str, Platform] = {}


def platform_register(name: str, platform: Platform) -> None:
    PLATFORMS[name] = platform


def platform_named(name: str) -> Platform:
    try:
        return PLATFORMS[name]
    except KeyError:
        raise IntegrationPermanentError(f"Ladder cannot upload to {name!r} destinations.") from None


def uploader_for(destination: Destination) -> AudienceUploader:
    return platform_named(destination.platform).connect(destination)


def _remote_audience(destination: Destination, create: Callable[[], str]) -> str:
    """The platform's audience (or list) for the destination: created once, on the first sync, and kept."""
    if not destination.remote_audience_id:
        destination.remote_audience_id = create()
        Destination.objects.filter(pk=destination.pk).update(remote_audience_id=destination.remote_audience_id)
    return destination.remote_audience_id


# Where each platform's API is: its own, unless settings name a stand-in (the demo's loopback fakes, or a test's).
def _graph_url() -> str | None:
    return settings.META_GRAPH_URL or None


def _datamanager_endpoint() -> str | None:
    return settings.GOOGLE_DATAMANAGER_URL or None


def _ads_endpoint() -> str | None:
    return settings.GOOGLE_ADS_ENDPOINT or None


def _description(destination: Destination) -> str:
    return f"Kept in step by Ladder from the audience {destination.audience.slug!r}."


def _webhook(destination: Destination) -> AudienceUploader:
    if not destination.connection.endpoint_url.startswith("https://") and not settings.WEBHOOK_DESTINATIONS_ALLOW_HTTP:
        raise IntegrationPermanentError("The webhook's URL must use https://; change it on the destination.")
    return WebhookUploader(
        url=destination.connection.endpoint_url,
        secret=destination.connection.credentials,
        audience=destination.remote_audience_id or destination.audience.slug,
    )


def _meta(destination: Destination) -> AudienceUploader:
    audience_id = _remote_audience(
        destination,
        lambda: meta_audiences.audience_create(
            access_token=destination.connection.credentials,
            ad_account_id=destination.connection.account_id,
            name=destination.audience.name,
            description=_description(destination),
            app_secret=settings.META_APP_SECRET,
            value_based=destination.value_based,
            graph_url=_graph_url(),
        ),
    )
    return meta_audiences.MetaUploader(
        access_token=destination.connection.credentials,
        audience_id=audience_id,
        app_secret=settings.META_APP_SECRET,
        value_based=destination.value_based,
        graph_url=_graph_url(),
    )


def _google(destination: Destination) -> AudienceUploader:
    """Customer Match through the Data Manager API, or the Google Ads API for allowlisted developer tokens."""
    customer_id, login = google_ids(destination.connection)
    name, description = destination.audience.name, _description(destination)
    if destination.connection.google_api == Connection.GoogleApi.GOOGLE_ADS:
        user_list = _remote_audience(
            destination,
            lambda: google_ads_audiences.user_list_create(
                credentials=destination.connection.credentials,
                customer_id=customer_id,
                login_customer_id=login,
                name=name,
                description=description,
                endpoint=_ads_endpoint(),
            ),
        )
        return google_ads_audiences.GoogleAdsUploader(
            credentials=destination.connection.credentials,
            customer_id=customer_id,
            user_list=user_list,
            login_customer_id=login,
            endpoint=_ads_endpoint(),
        )
    user_list_id = _remote_audience(
        destination,
        lambda: google_audiences.user_list_create(
            credentials=destination.connection.credentials,
            customer_id=customer_id,
            name=name,
            description=description,
            endpoint=_datamanager_endpoint(),
        ),
    )
    return google_audiences.GoogleUploader(
        credentials=destination.connection.credentials,
        customer_id=customer_id,
        user_list_id=user_list_id,
        login_customer_id=login,
        endpoint=_datamanager_endpoint(),
    )


platform_register(Connection.Platform.SANDBOX, Platform(connect=lambda destination: SandboxUploader()))
platform_register(Connection.Platform.WEBHOOK, Platform(connect=_webhook, batch_size=5_000))
platform_register(
    Connection.Platform.META,
    Platform(connect=_meta, batch_size=meta_audiences.ADD_BATCH, full_replace=True),
)
platform_register(
    Connection.Platform.GOOGLE,
    Platform(connect=_google, hasher=GoogleHasher, batch_size=google_audiences.MAX_MEMBERS),
)
