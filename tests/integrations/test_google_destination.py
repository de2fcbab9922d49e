"""The Google Customer Match destination: the official Data Manager client talking to a loopback Data Manager API."""

import datetime as dt
import hashlib
import json
import logging

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audiences.connections import connection_check
from audiences.models import Connection, Destination, SyncBatch, SyncLedger
from audiences.services import audience_refresh
from audiences.sync import destination_sync, lead_hashes
from audiences.tasks import destinations_requests_check
from integrations.audience_upload import UploadRow
from integrations.errors import IntegrationPermanentError
from integrations.google import datamanager as google_audiences
from tests.factories import AudienceFactory, ConsentFactory, destination_make
from tests.factories import opted_in_member as member
from tests.fakes.google_dm import GoogleDataManagerFake

pytestmark = pytest.mark.django_db

TOKEN = "ya29.fake-" + "g" * 40
CUSTOMER = "1234567890"
OPTED_IN = {"event": {"type": "optin", "within_days": 7}}


@pytest.fixture
def google(monkeypatch, settings):
    fake = GoogleDataManagerFake(access_token=TOKEN)
    settings.GOOGLE_DATAMANAGER_URL = fake.url
    monkeypatch.setattr("audiences.sync.batches.time.sleep", lambda seconds: None)  # retries without the waiting
    yield fake
    fake.stop()


@pytest.fixture
def destination(google):
    audience = AudienceFactory.create(rule=OPTED_IN, slug="warm-leads", name="Warm leads")
    return destination_make(
        audience=audience, name="Google", platform="google", account_id="123-456-7890", credentials=TOKEN
    )


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


def held(google, destination, leads):
    """The fake's list equals these leads' identifiers, hashed Google's way."""
    expected = {tuple(sorted(lead_hashes(lead, platform="google").items())) for lead in leads}
    return google.members[destination.remote_audience_id] == expected


def one_synced_and_one_waiting(destination):
    ada = member("ada@example.com")
    audience_refresh(audience=destination.audience)
    assert destination_sync(destination=destination).status == "succeeded"
    destinations_requests_check()  # Google's answer about that request is in
    destination.refresh_from_db()
    grace = member("grace@example.com")
    audience_refresh(audience=destination.audience)
    return ada, grace


def test_the_first_sync_creates_the_list_and_adds_members_hashed_googles_way_with_consent(google, destination):
    ada = member("a.da+news@gmail.com", first_name="Ada", last_name="Lovelace", postal_code="94110", country="US")
    grace = member("grace@example.com", phone="+14155552671")
    audience_refresh(audience=destination.audience)

    run = destination_sync(destination=destination)

    destination.refresh_from_db()
    assert run.status == "succeeded", run.error
    created = google.lists[destination.remote_audience_id]
    assert (created["displayName"], created["account"], created["membershipDuration"]) == (
        "Warm leads",
        CUSTOMER,
        f"{540 * 86400}s",
    )
    assert held(google, destination, [ada, grace])
    ada_hashes = lead_hashes(ada, platform="google")
    assert ada_hashes["email_address"] == sha256("ada@gmail.com")  # Gmail's dots and +suffix gone
    assert ada_hashes["region_code"] == "US"
    assert ada_hashes["postal_code"] == "94110"
    assert lead_hashes(grace, platform="google")["phone_number"] == sha256("+14155552671")
    assert (run.sent, run.accepted, run.invalid) == (2, 2, 0)
    batch = SyncBatch.objects.get(run=run)
    assert batch.request_id.startswith("req-")
    assert batch.remote_status == "processing"


def test_the_request_status_is_asked_for_and_recorded(google, destination):
    member("ada@example.com")
    member("bob@example.com")
    audience_refresh(audience=destination.audience)
    google.settle_next("PARTIAL_SUCCESS", reasons={"INVALID_FORMAT": 1})
    run = destination_sync(destination=destination)

    assert destinations_requests_check() == 0  # nothing failed as a whole: nothing put back

    batch = SyncBatch.objects.get(run=run)
    assert (batch.remote_status, batch.accepted, batch.invalid) == ("partial", 1, 1)
    assert batch.reasons == {"INVALID_FORMAT": 1}
    assert google.requests[-1]["path"] == "/v1/requestStatus:retrieve"


def test_a_request_google_failed_is_sent_again_by_the_next_sync(google, destination):
    ada, grace = one_synced_and_one_waiting(destination)
    google.settle_next("FAILED", reasons={"INTERNAL_ERROR": 1})
    failed_run = destination_sync(destination=destination)
    assert held(google, destination, [ada])  # the stand-in did not apply it

    run = destination_sync(destination=destination)  # asks first, puts Grace back, sends her again

    batch = SyncBatch.objects.get(run=failed_run)
    assert batch.remote_status == "failed"
    assert "INTERNAL_ERROR (1)" in batch.error
    assert (run.status, run.to_add, run.sent) == ("succeeded", 1, 1)
    assert held(google, destination, [ada, grace])


def test_a_request_still_processing_is_left_until_google_settles_it(google, destination):
    ada, grace = one_synced_and_one_waiting(destination)
    google.settle_next("PROCESSING")
    run = destination_sync(destination=destination)
    assert destinations_requests_check() == 0
    assert SyncBatch.objects.get(run=run).remote_status == "processing"

    google.settle()
    destinations_requests_check()

    assert SyncBatch.objects.get(run=run).remote_status == "succeeded"
    assert held(google, destination, [ada, grace])
    SyncBatch.objects.filter(run=run).update(
        remote_status="processing", created_at=timezone.now() - dt.timedelta(days=3)
    )
    google.statuses[SyncBatch.objects.get(run=run).request_id]["status"] = "PROCESSING"
    assert destinations_requests_check() == 1  # never settled: put back and sent again


def test_a_member_who_leaves_is_removed_without_consent_and_nothing_is_sent_twice(google, destination):
    ada, grace = member("ada@example.com"), member("grace@example.com")
    audience_refresh(audience=destination.audience)
    destination_sync(destination=destination)
    destination.refresh_from_db()
    grace.consents.all().delete()
    ConsentFactory.create(lead=grace, purpose="ad_audiences", status="withdrawn")
    audience_refresh(audience=destination.audience)

    run = destination_sync(destination=destination)

    assert (run.status, run.to_add, run.to_remove) == ("succeeded", 0, 1)
    assert held(google, destination, [ada])
    assert google.requests[-1]["path"] == "/v1/audienceMembers:remove"
    before = len([r for r in google.requests if r["method"] == "POST"])
    assert destination_sync(destination=destination).sent == 0
    assert len([r for r in google.requests if r["method"] == "POST"]) == before


def test_requests_carry_at_most_10000_members_and_a_member_without_identifiers_is_not_sent(google, destination):
    list_id = google_audiences.user_list_create(
        credentials=TOKEN, customer_id=CUSTOMER, name="Big", description="", endpoint=google.url
    )
    uploader = google_audiences.GoogleUploader(
        credentials=TOKEN, customer_id=CUSTOMER, user_list_id=list_id, endpoint=google.url
    )
    rows = [UploadRow(key=str(n), hashes={"email_address": f"{n:064x}"}) for n in range(10_001)]

    with pytest.raises(IntegrationPermanentError, match="At most 10000 members"):
        uploader.add(rows)
    first = uploader.add(rows[:10_000])
    second = uploader.add([*rows[10_000:], UploadRow(key="x", hashes={})])

    assert (first.accepted, second.accepted, second.invalid, second.reasons) == (
        10_000,
        1,
        1,
        {"no usable identifier": 1},
    )
    assert [r["members"] for r in google.requests if r["path"].endswith(":ingest")] == [10_000, 1]
    assert len(google.members[list_id]) == 10_001


def test_the_stand_in_refuses_what_google_refuses(google):
    """The fake's own rules, through the real client: more than 10,000 members, a bad hash, no consent, no terms."""
    from google.ads import datamanager_v1 as dm
    from google.api_core import exceptions

    list_id = google_audiences.user_list_create(
        credentials=TOKEN, customer_id=CUSTOMER, name="x", description="", endpoint=google.url
    )
    client = dm.IngestionServiceClient(
        credentials=google_audiences.credentials_from(TOKEN),
        transport="rest",
        client_options={"api_endpoint": google.url},
    )
    target = dm.Destination(
        operating_account=dm.ProductAccount(account_type=dm.ProductAccount.AccountType.GOOGLE_ADS, account_id=CUSTOMER),
        product_destination_id=list_id,
    )
    terms = dm.TermsOfService(customer_match_terms_of_service_status=dm.TermsOfServiceStatus.ACCEPTED)
    consent = dm.Consent(
        ad_user_data=dm.ConsentStatus.CONSENT_GRANTED, ad_personalization=dm.ConsentStatus.CONSENT_GRANTED
    )

    def person(value, with_consent=True):
        found = dm.AudienceMember(user_data=dm.UserData(user_identifiers=[dm.UserIdentifier(email_address=value)]))
        if with_consent:
            found.consent = consent
        return found

    def ingest(members, **extra):
        request = dm.IngestAudienceMembersRequest(
            destinations=[target], audience_members=members, encoding=dm.Encoding.HEX, **extra
        )
        return client.ingest_audience_members(request=request)

    cases = [
        ([person("a" * 64)] * 10_001, {"terms_of_service": terms}, "TOO_MANY_AUDIENCE_MEMBERS"),
        ([person("not-a-hash")], {"terms_of_service": terms}, "INVALID_SHA256_FORMAT"),
        ([person("a" * 64, with_consent=False)], {"terms_of_service": terms}, "REQUIRED_FIELD_MISSING"),
        ([person("a" * 64)], {}, "TERMS_AND_CONDITIONS_NOT_SIGNED"),
    ]
    for members, extra, reason in cases:
        with pytest.raises(exceptions.BadRequest) as refused:
            ingest(members, **extra)
        assert refused.value.reason == reason
    assert google.members[list_id] == set()
    assert ingest([person("a" * 64)], terms_of_service=terms).request_id


def test_resource_exhausted_is_retried_and_the_sync_completes(google, destination):
    ada, grace = one_synced_and_one_waiting(destination)
    google.fail_next(http=429, status="RESOURCE_EXHAUSTED", reason="RESOURCE_EXHAUSTED", retry_delay=1, times=2)

    run = destination_sync(destination=destination)

    assert run.status == "succeeded", run.error
    assert (run.retries, SyncBatch.objects.get(run=run).attempts) == (2, 3)
    assert held(google, destination, [ada, grace])


@pytest.mark.parametrize("failure", [{"http": 503, "status": "UNAVAILABLE"}, {"http": 500, "status": "INTERNAL"}])
def test_server_errors_are_retried(google, destination, failure):
    ada, grace = one_synced_and_one_waiting(destination)
    google.fail_next(**failure, times=2)
    assert destination_sync(destination=destination).status == "succeeded"
    assert held(google, destination, [ada, grace])


def test_a_long_quota_wait_ends_the_run_and_holds_the_schedule(google, destination):
    one_synced_and_one_waiting(destination)
    google.fail_next(http=429, status="RESOURCE_EXHAUSTED", reason="RESOURCE_EXHAUSTED", retry_delay=3600)

    run = destination_sync(destination=destination)

    destination.refresh_from_db()
    assert run.status == "failed"
    assert "Google RESOURCE_EXHAUSTED" in run.error
    assert "60-minute pause" in run.error
    assert SyncBatch.objects.get(run=run).attempts == 1
    assert destination.is_active
    assert not destination.connection.paused_reason
    assert destination.connection.wait_until > timezone.now() + dt.timedelta(minutes=59)


def test_invalid_argument_fails_the_run_with_googles_reason_and_keeps_the_schedule(google, destination):
    ada, grace = one_synced_and_one_waiting(destination)
    google.fail_next(http=400, status="INVALID_ARGUMENT", reason="INVALID_USER_LIST_ID", message="Bad list.")

    run = destination_sync(destination=destination)

    destination.refresh_from_db()
    assert run.status == "failed"
    assert run.error == "Google INVALID_ARGUMENT INVALID_USER_LIST_ID: Bad list."
    assert SyncBatch.objects.get(run=run).attempts == 1  # not retried
    assert destination.is_active
    assert not destination.connection.paused_reason
    assert destination.connection.failures == 0  # the run of failures is over
    assert not SyncLedger.objects.filter(lead=grace).exists()  # part of the next diff


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ({"http": 401, "status": "UNAUTHENTICATED"}, "Google refused the access token"),
        ({"http": 403, "status": "PERMISSION_DENIED", "reason": "PERMISSION_DENIED"}, "Google PERMISSION_DENIED"),
        (
            {"http": 400, "status": "INVALID_ARGUMENT", "reason": "TERMS_AND_CONDITIONS_NOT_SIGNED"},
            "TERMS_AND_CONDITIONS_NOT_SIGNED",
        ),
    ],
)
def test_credentials_permissions_and_unsigned_terms_pause_the_destination(google, destination, failure, expected):
    one_synced_and_one_waiting(destination)
    google.fail_next(**failure, message="Refused.")

    run = destination_sync(destination=destination)

    destination.refresh_from_db()
    assert run.status == "failed"
    assert expected in run.error
    assert "paused" in run.error
    assert not destination.sending()


def test_consent_refused_at_google_pauses_the_destination_without_a_retry_storm(google, destination):
    ada, grace = one_synced_and_one_waiting(destination)
    google.settle_next("FAILED", reasons={"DENIED_CONSENT": 1})
    run = destination_sync(destination=destination)

    destinations_requests_check()

    destination.refresh_from_db()
    batch = SyncBatch.objects.get(run=run)
    assert batch.remote_status == "failed"
    assert "DENIED_CONSENT (1)" in batch.error
    assert not destination.sending()
    assert "DENIED_CONSENT" in destination.runs.first().error


def test_an_expired_token_is_found_by_the_daily_check(google, destination):
    one_synced_and_one_waiting(destination)
    google.access_token = "another"

    checked = connection_check(destination.connection)

    destination.refresh_from_db()
    assert checked is False
    assert "Google refused the access token" in destination.connection.paused_reason
    assert not destination.sending()


def test_the_destination_form_rules(google):
    audience = AudienceFactory.create(rule=OPTED_IN)
    bad = Connection(name="G", platform="google", account_id="12345", login_customer_id="x")
    with pytest.raises(ValidationError) as refused:
        bad.full_clean()
    assert set(refused.value.message_dict) >= {"account_id", "login_customer_id", "credentials"}
    assert audience.destinations.count() == 0


def test_credentials_json_is_read_and_a_broken_one_is_refused_without_echoing_it():
    info = {"client_id": "id.apps.googleusercontent.com", "client_secret": "s3cret", "refresh_token": "1//r"}
    assert getattr(google_audiences.credentials_from(json.dumps(info)), "refresh_token", None) == "1//r"
    with pytest.raises(google_audiences.IntegrationCredentialsError) as refused:
        google_audiences.credentials_from(json.dumps({"client_secret": "s3cret"}))
    assert "s3cret" not in str(refused.value)


def test_a_full_sync_logs_no_identifier_token_or_secret(google, destination, caplog):
    lead = member("ada@example.com", phone="+14155552671", first_name="Ada", last_name="Lovelace")
    audience_refresh(audience=destination.audience)
    secrets = [TOKEN, "ada@example.com", "14155552671", *lead_hashes(lead, platform="google").values()]
    secrets = [value for value in secrets if len(value) > 5]

    with caplog.at_level(logging.DEBUG):
        destination_sync(destination=destination)
        destinations_requests_check()
        grace = member("grace@example.com")
        audience_refresh(audience=destination.audience)
        google.fail_next(http=401, status="UNAUTHENTICATED")
        destination_sync(destination=destination)

    logged = "\n".join(f"{record.getMessage()} {record.args}" for record in caplog.records)
    assert caplog.records  # something was logged, and none of it says who
    for value in [*secrets, grace.email]:
        assert value not in logged


def test_credentials_are_checked_with_google_when_saved_and_a_marketer_watches_the_sync(google, admin_client):
    audience = AudienceFactory.create(rule=OPTED_IN, name="Warm leads")
    form = {
        "name": "Google",
        "platform": "google",
        "account_id": "123-456-7890",
        "login_customer_id": "",
        "google_api": "data_manager",
        "endpoint_url": "",
        "credentials": "ya29.expired",
        "is_active": "on",
    }
    expired = admin_client.post("/admin/audiences/connection/add/", form)
    google.forbidden_accounts.add("9999999999")
    no_access = admin_client.post(
        "/admin/audiences/connection/add/", {**form, "credentials": TOKEN, "account_id": "9999999999"}
    )

    assert expired.status_code == no_access.status_code == 200
    assert "Google refused the access token" in expired.content.decode()
    assert "Google PERMISSION_DENIED" in no_access.content.decode()
    assert not Connection.objects.exists()
    assert admin_client.post("/admin/audiences/connection/add/", {**form, "credentials": TOKEN}).status_code == 302
    added = {
        "audience": audience.pk,
        "name": "Google",
        "connection": Connection.objects.get().pk,
        "remote_audience_id": "",
        "mode": "mirror",
        "value_currency": "",
        "schedule_minutes": 60,
        "is_active": "on",
    }
    assert admin_client.post("/admin/audiences/destination/add/", added).status_code == 302

    destination = Destination.objects.get()
    member("ada@example.com")
    audience_refresh(audience=audience)
    run = destination_sync(destination=destination)
    destinations_requests_check()
    page = admin_client.get(f"/admin/audiences/syncrun/{run.pk}/change/").content.decode()
    listing = admin_client.get("/admin/audiences/destination/").content.decode()
    assert "Applied" in page  # what Google finally did with the request
    assert "sync-ok" in listing
