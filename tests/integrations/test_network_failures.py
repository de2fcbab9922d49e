"""When a platform cannot be reached, every client says so without the request's URL, token or ids; the sync ends
failed with that reason; and no log record anywhere carries a token (the record factory masks what gets through)."""

import datetime as dt
import logging
import socket

import pytest
from facebook_business.session import FacebookSession

from audiences.models import SyncRun
from audiences.services import audience_refresh
from audiences.sync import destination_sync
from common.logscrub import MASK, scrub
from integrations.audience_upload import UploadRow
from integrations.conversions import Conversion
from integrations.errors import IntegrationTransientError, failure_kind
from integrations.google import ads as google_ads_audiences
from integrations.google import datamanager as google_audiences
from integrations.google.conversions import GoogleConversionSender
from integrations.meta import audiences as meta_audiences
from integrations.meta.conversions import MetaConversionSender
from integrations.stripe.gateway import StripeGateway
from integrations.webhook.upload import WebhookUploader
from tests.factories import AudienceFactory, destination_make
from tests.factories import opted_in_member as member

TOKEN = "EAAB-secret-" + "s" * 30
ROW = UploadRow(key="1", hashes={"EMAIL": "a" * 64})


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def nowhere(monkeypatch, settings):
    """Every platform's address points at a port nothing listens on."""
    port = closed_port()
    monkeypatch.setattr(FacebookSession, "GRAPH", f"http://127.0.0.1:{port}")
    settings.META_GRAPH_URL = f"http://127.0.0.1:{port}"
    settings.GOOGLE_DATAMANAGER_URL = f"http://127.0.0.1:{port}"
    settings.GOOGLE_ADS_ENDPOINT = f"127.0.0.1:{port}"
    monkeypatch.setattr("audiences.sync.batches.time.sleep", lambda seconds: None)
    return port


def clean(error: Exception, *secrets: str) -> str:
    text = str(error)
    for secret in (*secrets, "http://", "127.0.0.1", "access_token"):
        assert secret not in text, (secret, text)
    return text


def test_meta_audiences_unreachable_is_transient_and_says_nothing_of_the_request(nowhere):
    uploader = meta_audiences.MetaUploader(access_token=TOKEN, audience_id="23850000000001", app_secret="app-secret")
    with pytest.raises(IntegrationTransientError) as caught:
        uploader.add([ROW], last=True)
    assert clean(caught.value, TOKEN, "23850000000001") == (
        "Meta could not be reached: connection refused (ConnectionError)."
    )
    with pytest.raises(IntegrationTransientError, match="^Meta could not be reached"):
        uploader.remove([ROW])
    with pytest.raises(IntegrationTransientError) as caught:
        meta_audiences.audience_create(access_token=TOKEN, ad_account_id="act_123", name="Warm")
    clean(caught.value, TOKEN, "act_123")
    with pytest.raises(IntegrationTransientError) as caught:
        meta_audiences.credentials_check(access_token=TOKEN, ad_account_id="act_123")
    clean(caught.value, TOKEN)


def a_conversion(hashes: dict[str, str]) -> Conversion:
    return Conversion(
        event_id="ev-1",
        name="Lead",
        occurred_at=dt.datetime.now(dt.UTC),
        hashes=hashes,
        user_agent="Mozilla/5.0",
        gclid="gclid-secret",
    )


def test_conversions_unreachable_are_transient(nowhere):
    with pytest.raises(IntegrationTransientError) as caught:
        MetaConversionSender(access_token=TOKEN, pixel_id="1234").send([a_conversion({"EMAIL": "a" * 64})])
    assert clean(caught.value, TOKEN).startswith("Meta could not be reached: connection refused")
    google = GoogleConversionSender(
        credentials="ya29." + "g" * 40,
        customer_id="1234567890",
        conversion_action_id="55",
        endpoint=f"http://127.0.0.1:{nowhere}",
    )
    with pytest.raises(IntegrationTransientError) as caught:
        google.send([a_conversion({"email_address": "a" * 64})])
    assert clean(caught.value, "ya29").startswith("Google could not be reached: connection refused")


def test_google_unreachable_is_transient(nowhere):
    uploader = google_audiences.GoogleUploader(
        credentials="ya29." + "g" * 40,
        customer_id="1234567890",
        user_list_id="77",
        endpoint=f"http://127.0.0.1:{nowhere}",
    )
    with pytest.raises(IntegrationTransientError) as caught:
        uploader.add([UploadRow(key="1", hashes={"email_address": "a" * 64})], last=True)
    assert clean(caught.value, "ya29").startswith("Google could not be reached: connection refused")
    ads = google_ads_audiences.GoogleAdsUploader(
        credentials='{"developer_token": "dev-token-secret", "access_token": "ya29.ads-secret"}',
        customer_id="1234567890",
        user_list="customers/1234567890/userLists/9",
        endpoint=f"127.0.0.1:{nowhere}",
    )
    with pytest.raises(IntegrationTransientError) as caught:
        ads.add([UploadRow(key="1", hashes={"email_address": "a" * 64})], last=True)
    assert clean(caught.value, "dev-token-secret", "ya29").startswith("Google Ads could not be reached")


def test_webhook_and_stripe_unreachable_are_transient(nowhere):
    webhook = WebhookUploader(url=f"http://127.0.0.1:{nowhere}/hook?key=abc", secret="s" * 32, audience="warm")
    with pytest.raises(IntegrationTransientError) as caught:
        webhook.add([ROW], last=True)
    assert clean(caught.value, "key=abc") == "The webhook could not be reached: connection refused (ConnectionError)."
    gateway = StripeGateway(
        api_key="sk_test_" + "k" * 24, api_base=f"http://127.0.0.1:{nowhere}", max_network_retries=0
    )
    with pytest.raises(IntegrationTransientError) as caught:
        gateway.intent_retrieve("pi_secretintent123")
    assert clean(caught.value, "sk_test_", "pi_secretintent123").startswith(
        "Stripe could not be reached: connection refused"
    )


@pytest.mark.django_db
def test_a_sync_to_an_unreachable_platform_ends_failed_with_the_reason_and_logs_no_token(nowhere, caplog):
    caplog.set_level(logging.DEBUG)
    audience = AudienceFactory.create(rule={"event": {"type": "optin", "within_days": 7}})
    member("ada@example.com")
    audience_refresh(audience=audience)
    destination = destination_make(
        audience=audience, name="Meta", platform="meta", account_id="act_1234567890", credentials=TOKEN
    )
    run = destination_sync(destination=destination)
    assert run.status == SyncRun.Status.FAILED
    assert clean(Exception(run.error), TOKEN).startswith("Meta could not be reached: connection refused")
    destination.refresh_from_db()
    assert destination.connection.wait_until is not None  # retried later, not given up
    assert TOKEN not in caplog.text
    assert "ada@example.com" not in caplog.text


@pytest.mark.django_db
def test_a_bug_during_a_sync_closes_the_run_and_keeps_its_traceback():
    audience = AudienceFactory.create(rule={"event": {"type": "optin", "within_days": 7}})
    member("ada@example.com")
    audience_refresh(audience=audience)
    destination = destination_make(audience=audience, name="Sandbox", platform="sandbox")

    class Broken:
        platform, batch_size, records_payload = "sandbox", 100, False

        def add(self, rows, *, last=False):
            return 1 / 0

        def remove(self, rows):
            return 1 / 0

    with pytest.raises(ZeroDivisionError):
        destination_sync(destination=destination, uploader=Broken())
    run = SyncRun.objects.get(destination=destination)
    assert run.status == SyncRun.Status.FAILED
    assert run.error == "Ladder failed during the sync (ZeroDivisionError)."
    assert run.finished_at is not None


@pytest.mark.parametrize(
    "text",
    [
        "GET https://graph.facebook.com/v25.0/act_1/customaudiences?access_token=EAABsecret123&fields=id",
        "{'access_token': 'EAABsecret123', 'appsecret_proof': 'abcdef0123'}",
        "headers={'Authorization': 'Bearer EAABsecret123'}",
        "Authorization: Bearer EAABsecret123",
        "stripe key sk_live_EAABsecret123456",
        "form client_secret=EAABsecret123&refresh_token=1//EAABsecret123",
    ],
)
def test_the_log_scrubber_masks_tokens_wherever_they_appear(text):
    cleaned = scrub(text)
    assert "EAABsecret123" not in cleaned
    assert MASK in cleaned


def test_every_log_record_is_scrubbed_in_its_message_and_its_traceback(caplog):
    logger = logging.getLogger("tests.scrub")
    url = "https://graph.facebook.com/v25.0/123/users?access_token=EAABleak999&appsecret_proof=ff00"
    try:
        raise ConnectionError(f"Max retries exceeded with url: {url}")
    except ConnectionError:
        logger.exception("sync failed for %s", url)
    (record,) = [r for r in caplog.records if r.name == "tests.scrub"]
    assert "EAABleak999" not in record.getMessage()
    assert "EAABleak999" not in (record.exc_text or "")
    assert "EAABleak999" not in caplog.text
    assert "ConnectionError" in caplog.text  # the traceback is still there, masked


def test_failure_kinds_come_from_the_exception_chain_not_its_text():
    assert failure_kind(ConnectionRefusedError()) == "connection refused"
    assert failure_kind(TimeoutError()) == "timed out"
    assert failure_kind(socket.gaierror(-2, "Name or service not known")) == "name not resolved"
    wrapped = ConnectionError("outer")
    wrapped.__cause__ = ConnectionResetError()
    assert failure_kind(wrapped) == "connection dropped"
    assert failure_kind(OSError("something else")) == "connection failed"
