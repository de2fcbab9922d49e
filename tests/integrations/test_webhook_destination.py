"""The signed-webhook destination against a receiver on 127.0.0.1 that checks every signature."""

import json
import logging

import pytest

from audiences.models import Connection, SyncLedger
from audiences.services import audience_refresh
from audiences.sync import destination_sync, lead_hashes, uploader_for
from integrations.errors import IntegrationPermanentError
from integrations.webhook.upload import signature_header, signature_valid
from leads.models import Consent
from tests.factories import AudienceFactory, ConsentFactory, EventFactory, LeadFactory, days_ago, destination_make
from tests.fakes.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db

SECRET = "whsec-" + "s" * 26
OPTED_IN = {"event": {"type": "optin", "within_days": 7}}


@pytest.fixture
def receiver():
    running = Receiver(SECRET)
    yield running
    running.server.shutdown()


@pytest.fixture
def destination(receiver):
    audience = AudienceFactory.create(rule=OPTED_IN, slug="warm-leads")
    return destination_make(
        audience=audience, name="Partner", platform="webhook", endpoint_url=receiver.url, credentials=SECRET
    )


def member(email, *, consent="granted"):
    lead = LeadFactory.create(email=email)
    EventFactory.create(lead=lead, type="optin", occurred_at=days_ago(1))
    ConsentFactory.create(lead=lead, purpose="ad_audiences", status=consent)
    return lead


def test_a_sync_posts_signed_batches_of_hashes_and_records_them(receiver, destination):
    people = [member(f"p{n}@example.com") for n in range(3)]
    member("no@example.com", consent="withdrawn")
    audience_refresh(audience=destination.audience)
    run = destination_sync(destination=destination)
    assert (run.status, run.sent, run.accepted) == ("succeeded", 3, 3)
    (delivery,) = receiver.deliveries
    assert delivery["signed"]
    assert delivery["body"] == {
        "type": "audience.add",
        "audience": "warm-leads",
        "rows": [lead_hashes(lead) for lead in people],
    }
    assert "@" not in json.dumps(delivery["body"])  # hashes only
    assert set(SyncLedger.objects.values_list("state", flat=True)) == {"added"}


def test_a_withdrawal_is_posted_as_a_removal_with_the_hashes_that_were_sent(receiver, destination):
    leaving = member("leaving@example.com")
    audience_refresh(audience=destination.audience)
    destination_sync(destination=destination)
    ConsentFactory.create(lead=leaving, purpose="ad_audiences", status=Consent.Status.WITHDRAWN)
    run = destination_sync(destination=destination)
    assert run.status == "succeeded"
    assert [d["body"]["type"] for d in receiver.deliveries] == ["audience.add", "audience.remove"]
    assert receiver.deliveries[1]["body"]["rows"] == [lead_hashes(leaving)]
    assert SyncLedger.objects.get().state == "removed"


def test_a_busy_receiver_gets_the_same_delivery_again_and_the_batch_counts_once(receiver, destination):
    member("a@example.com")
    audience_refresh(audience=destination.audience)
    receiver.answers = [(503, {}), (200, {})]
    run = destination_sync(destination=destination)
    assert (run.status, run.retries, run.sent) == ("succeeded", 1, 1)
    first, second = receiver.deliveries
    assert first["id"] == second["id"]
    assert first["body"] == second["body"]
    assert run.batches.get().attempts == 2
    assert SyncLedger.objects.count() == 1


def test_a_refusal_fails_the_run_with_its_status_and_nothing_is_recorded(receiver, destination, caplog):
    member("refused@example.com")
    audience_refresh(audience=destination.audience)
    receiver.answers = [(401, {"error": "bad signature for refused@example.com"})]
    with caplog.at_level(logging.DEBUG):
        run = destination_sync(destination=destination)
    assert run.status == "failed"
    assert "401" in run.error
    assert "refused@example.com" not in run.error
    assert len(receiver.deliveries) == 1  # a permanent answer is not retried
    assert SyncLedger.objects.count() == 0
    assert "refused@example.com" not in caplog.text
    assert SECRET not in caplog.text


def test_the_receivers_counts_and_reasons_are_kept(receiver, destination):
    for n in range(4):
        member(f"c{n}@example.com")
    audience_refresh(audience=destination.audience)
    receiver.answers = [(200, {"accepted": 3, "invalid": 1, "reasons": {"unknown country": 1}})]
    run = destination_sync(destination=destination)
    batch = run.batches.get()
    assert (run.accepted, run.invalid, batch.reasons) == (3, 1, {"unknown country": 1})


def test_counts_that_do_not_add_up_are_not_believed(receiver, destination):
    member("d@example.com")
    audience_refresh(audience=destination.audience)
    receiver.answers = [(200, {"accepted": 7, "invalid": -2})]
    assert destination_sync(destination=destination).accepted == 1


def test_the_signature_is_stale_after_five_minutes_and_wrong_with_another_secret():
    body = b'{"rows":[]}'
    header = signature_header(SECRET, body, timestamp=1_700_000_000)
    assert signature_valid(SECRET, body, header, now=1_700_000_100)
    assert not signature_valid(SECRET, body, header, now=1_700_000_400)
    assert not signature_valid("another-secret-000", body, header, now=1_700_000_100)
    assert not signature_valid(SECRET, body + b" ", header, now=1_700_000_100)
    assert not signature_valid(SECRET, body, "t=abc,v1=00", now=1_700_000_100)


def test_plain_http_is_refused_unless_allowed(destination, settings):
    settings.WEBHOOK_DESTINATIONS_ALLOW_HTTP = False
    with pytest.raises(IntegrationPermanentError, match="https"):
        uploader_for(destination)
    with pytest.raises(Exception, match="https"):
        destination.connection.full_clean()


def test_the_admin_asks_for_a_url_and_a_secret(admin_client):
    audience = AudienceFactory.create(rule=OPTED_IN)
    response = admin_client.post(
        "/admin/audiences/connection/add/",
        {"name": "Partner", "platform": "webhook", "google_api": "data_manager", "is_active": "on"},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "needs the URL" in str(errors["endpoint_url"])
    assert "signing secret" in str(errors["credentials"])
    assert not Connection.objects.exists()
    assert audience.destinations.count() == 0
