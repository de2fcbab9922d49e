"""The Google Ads API path (allowlisted developer tokens): the official ``google-ads`` client over gRPC with TLS, to
a loopback stand-in whose self-signed certificate is made at test time."""

import datetime as dt
import json
import logging

import grpc
import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from audiences.connections import connection_check
from audiences.models import SyncBatch
from audiences.services import audience_refresh
from audiences.sync import destination_sync, lead_hashes
from audiences.tasks import destinations_requests_check
from integrations.google import ads as google_ads_audiences
from tests.factories import AudienceFactory, ConsentFactory, destination_make
from tests.factories import opted_in_member as member
from tests.fakes.google_ads_grpc import GoogleAdsFake

pytestmark = pytest.mark.django_db

ACCESS = "ya29.ads-" + "a" * 30
DEVELOPER = "dev-token-" + "d" * 12
CREDENTIALS = json.dumps({"access_token": ACCESS, "developer_token": DEVELOPER})
OPTED_IN = {"event": {"type": "optin", "within_days": 7}}


@pytest.fixture
def ads(monkeypatch, settings):
    fake = GoogleAdsFake(access_token=ACCESS, developer_token=DEVELOPER)
    monkeypatch.setenv("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", str(fake.cert_path))  # trust the stand-in's certificate
    settings.GOOGLE_ADS_ENDPOINT = fake.endpoint
    monkeypatch.setattr("audiences.sync.batches.time.sleep", lambda seconds: None)
    yield fake
    fake.stop()


@pytest.fixture
def destination(ads):
    audience = AudienceFactory.create(rule=OPTED_IN, slug="warm-leads", name="Warm leads")
    return destination_make(
        audience=audience,
        name="Google Ads",
        platform="google",
        google_api="google_ads",
        account_id="1234567890",
        credentials=CREDENTIALS,
    )


def held(ads, destination, leads):
    expected = {tuple(sorted(lead_hashes(lead, platform="google").items())) for lead in leads}
    return ads.members[destination.remote_audience_id] == expected


def test_a_sync_creates_the_list_and_runs_one_job_with_consent(ads, destination):
    ada = member("ada@example.com", phone="+14155552671", first_name="Ada", last_name="Lovelace", postal_code="94110")
    grace = member("grace@example.com")
    audience_refresh(audience=destination.audience)

    run = destination_sync(destination=destination)

    destination.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert ads.user_lists[destination.remote_audience_id] == {"name": "Warm leads", "life_span": 540}
    (job,) = ads.jobs.values()
    assert job["consent"] == ("GRANTED", "GRANTED")
    assert held(ads, destination, [ada, grace])
    assert ads.calls[-1] == "run"
    batch = SyncBatch.objects.get(run=run)
    assert batch.remote_status == "processing"
    destinations_requests_check()
    batch.refresh_from_db()
    assert batch.remote_status == "succeeded"


def test_a_removal_goes_in_the_next_job(ads, destination):
    ada, grace = member("ada@example.com"), member("grace@example.com")
    audience_refresh(audience=destination.audience)
    destination_sync(destination=destination)
    destination.refresh_from_db()
    grace.consents.all().delete()
    ConsentFactory.create(lead=grace, purpose="ad_audiences", status="withdrawn")
    audience_refresh(audience=destination.audience)

    run = destination_sync(destination=destination)

    assert (run.status, run.to_remove) == ("succeeded", 1)
    assert len(ads.jobs) == 2
    assert held(ads, destination, [ada])


def with_list(destination):
    """The destination's list made already, so a scripted failure meets the upload itself."""
    destination.remote_audience_id = google_ads_audiences.user_list_create(
        credentials=CREDENTIALS,
        customer_id="1234567890",
        name="Warm leads",
        description="",
        endpoint=django_settings.GOOGLE_ADS_ENDPOINT,  # the stand-in's, as the fixture set it
    )
    destination.save()


def test_a_quota_error_is_retried_after_googles_delay(ads, destination):
    with_list(destination)
    ada = member("ada@example.com")
    audience_refresh(audience=destination.audience)
    ads.fail_next(grpc.StatusCode.RESOURCE_EXHAUSTED, "quota_error", "RESOURCE_TEMPORARILY_EXHAUSTED", retry_seconds=2)

    run = destination_sync(destination=destination)

    assert run.status == "succeeded", run.error
    assert run.retries == 1
    assert held(ads, destination, [ada])


def test_a_long_quota_wait_holds_the_schedule(ads, destination):
    with_list(destination)
    member("ada@example.com")
    audience_refresh(audience=destination.audience)
    ads.fail_next(grpc.StatusCode.RESOURCE_EXHAUSTED, "quota_error", "RESOURCE_EXHAUSTED", retry_seconds=3600)

    run = destination_sync(destination=destination)

    destination.refresh_from_db()
    assert run.status == "failed"
    assert "quota_error.RESOURCE_EXHAUSTED" in run.error
    assert destination.connection.wait_until > timezone.now() + dt.timedelta(minutes=59)  # as long as Google said


@pytest.mark.parametrize(
    ("code", "kind", "name"),
    [
        (grpc.StatusCode.UNAUTHENTICATED, "authentication_error", "OAUTH_TOKEN_EXPIRED"),
        (grpc.StatusCode.PERMISSION_DENIED, "authorization_error", "DEVELOPER_TOKEN_NOT_APPROVED"),
        (grpc.StatusCode.PERMISSION_DENIED, "not_allowlisted_error", "CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE"),
    ],
)
def test_refused_credentials_and_a_customer_not_allowlisted_pause_the_destination(ads, destination, code, kind, name):
    member("ada@example.com")
    audience_refresh(audience=destination.audience)
    ads.fail_next(code, kind, name)

    run = destination_sync(destination=destination)

    destination.refresh_from_db()
    assert run.status == "failed"
    assert f"{kind}.{name}" in run.error
    assert "paused" in run.error
    assert not destination.sending()


def test_invalid_argument_fails_the_run_without_retrying(ads, destination):
    member("ada@example.com")
    audience_refresh(audience=destination.audience)
    ads.fail_next(grpc.StatusCode.INVALID_ARGUMENT, "offline_user_data_job_error", "INVALID_USER_LIST_ID")

    run = destination_sync(destination=destination)

    destination.refresh_from_db()
    assert run.status == "failed"
    assert run.retries == 0
    assert destination.is_active
    assert not destination.connection.paused_reason


def test_a_malformed_member_fails_alone_through_partial_failure(ads, destination):
    list_name = google_ads_audiences.user_list_create(
        credentials=CREDENTIALS, customer_id="1234567890", name="x", description="", endpoint=ads.endpoint
    )
    uploader = google_ads_audiences.GoogleAdsUploader(
        credentials=CREDENTIALS, customer_id="1234567890", user_list=list_name, endpoint=ads.endpoint
    )
    from integrations.audience_upload import UploadRow

    result = uploader.add(
        [UploadRow(key="1", hashes={"email_address": "a" * 64}), UploadRow(key="2", hashes={"email_address": "bad"})]
    )

    assert (result.accepted, result.invalid) == (1, 1)
    assert result.reasons == {"offline_user_data_job_error.INVALID_SHA256_FORMAT": 1}


def test_the_wrong_developer_token_is_found_by_the_daily_check(ads, destination):
    ads.developer_token = "another"
    checked = connection_check(destination.connection)
    destination.refresh_from_db()
    assert checked is False
    assert "DEVELOPER_TOKEN_PROHIBITED" in destination.connection.paused_reason
    assert not destination.sending()


def test_credentials_without_a_developer_token_are_refused_saying_so(ads, destination):
    destination.connection.credentials = json.dumps({"access_token": ACCESS})
    destination.connection.save()
    member("ada@example.com")
    audience_refresh(audience=destination.audience)
    run = destination_sync(destination=destination)
    assert "developer_token" in run.error


def test_a_sync_logs_no_identifier_or_token(ads, destination, caplog):
    lead = member("ada@example.com", phone="+14155552671")
    audience_refresh(audience=destination.audience)
    with caplog.at_level(logging.DEBUG):
        destination_sync(destination=destination)
        destinations_requests_check()
    logged = "\n".join(f"{record.getMessage()} {record.args}" for record in caplog.records)
    for secret in (ACCESS, DEVELOPER, "ada@example.com", *lead_hashes(lead, platform="google").values()):
        assert secret not in logged


def test_a_sync_that_fails_midway_still_runs_the_job_for_what_google_took(ads, destination):
    with_list(destination)
    ada = member("ada@example.com")
    audience_refresh(audience=destination.audience)
    destination_sync(destination=destination)  # Ada is held
    grace = member("grace@example.com")
    ConsentFactory.create(lead=ada, purpose="ad_audiences", status="withdrawn")
    audience_refresh(audience=destination.audience)
    ads.refuse_removals = True  # Grace's add is taken, then Ada's removal is refused for good

    run = destination_sync(destination=destination)

    assert run.status == "failed"
    assert "offline_user_data_job_error.REMOVE_NOT_SUPPORTED" in run.error
    second_job = list(ads.jobs.values())[-1]
    assert second_job["status"].name == "SUCCESS"  # run, so what Google took is applied
    assert held(ads, destination, [ada, grace])  # Ada's removal is left for the next sync


def test_a_jobs_status_is_asked_once_for_all_its_batches(ads, destination):
    with_list(destination)
    for n in range(3):
        member(f"person{n}@example.com")
    audience_refresh(audience=destination.audience)
    uploader = google_ads_audiences.GoogleAdsUploader(
        credentials=CREDENTIALS,
        customer_id="1234567890",
        user_list=destination.remote_audience_id,
        endpoint=ads.endpoint,
    )
    uploader.batch_size = 1  # three batches, one job
    destination_sync(destination=destination, uploader=uploader)
    before = ads.calls.count("search")

    destinations_requests_check()

    assert SyncBatch.objects.filter(remote_status="succeeded").count() == 3
    assert ads.calls.count("search") - before == 1
