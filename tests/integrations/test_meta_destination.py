"""The Meta Custom Audience destination: the official SDK talking to a loopback Graph API with Meta's rules."""

import datetime as dt
import json
import logging

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from facebook_business.session import FacebookSession

from audiences.models import Connection, Destination, SyncBatch, SyncLedger
from audiences.services import audience_refresh
from audiences.sync import destination_reconcile, destination_sync, lead_hashes
from audiences.tasks import connections_credentials_check, destinations_reconcile, destinations_sync_due
from audiences.tasks import destination_sync as sync_task
from integrations.audience_upload import UploadRow
from integrations.meta import audiences as meta_audiences
from tests.factories import AudienceFactory, ConsentFactory, destination_make
from tests.factories import opted_in_member as member
from tests.fakes.meta_graph import MetaGraphFake

pytestmark = pytest.mark.django_db

TOKEN = "EAAB-" + "t" * 40
OPTED_IN = {"event": {"type": "optin", "within_days": 7}}


@pytest.fixture
def graph(monkeypatch, settings):
    fake = MetaGraphFake(access_token=TOKEN)
    monkeypatch.setattr(FacebookSession, "GRAPH", fake.url)
    monkeypatch.setattr("audiences.sync.batches.time.sleep", lambda seconds: None)  # retries without the waiting
    settings.META_APP_SECRET = "app-secret-for-appsecret-proof"
    yield fake
    fake.stop()


@pytest.fixture
def destination(graph):
    audience = AudienceFactory.create(rule=OPTED_IN, slug="warm-leads", name="Warm leads")
    return destination_make(
        audience=audience, name="Meta", platform="meta", account_id="act_1234567890", credentials=TOKEN
    )


def one_synced_and_one_waiting(destination):
    """Ada synced (so the audience exists at Meta), Grace a new member the next sync sends."""
    ada = member("ada@example.com")
    audience_refresh(audience=destination.audience)
    destination_sync(destination=destination)
    destination.refresh_from_db()
    grace = member("grace@example.com")
    audience_refresh(audience=destination.audience)
    return ada, grace


def held(graph, destination, leads):
    """The fake's audience equals these leads' hashed rows (in Meta's multi-key schema)."""
    expected = {
        tuple(sorted(lead_hashes(lead).items(), key=lambda kv: meta_audiences.SCHEMA.index(kv[0]))) for lead in leads
    }
    return graph.members[destination.remote_audience_id] == expected


def test_the_first_sync_creates_the_audience_and_adds_the_members_hashed(graph, destination):
    ada = member("ada@example.com", first_name="Ada", phone="+14155552671", country="US")
    grace = member("grace@example.com", first_name="Grace")
    audience_refresh(audience=destination.audience)

    run = destination_sync(destination=destination)

    destination.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert destination.remote_audience_id in graph.audiences
    assert graph.audiences[destination.remote_audience_id] == {
        "name": "Warm leads",
        "source": "USER_PROVIDED_ONLY",
        "value_based": False,
    }
    assert held(graph, destination, [ada, grace])
    upload = next(r for r in graph.requests if r["method"] == "POST" and r["path"].endswith("/users"))
    assert json.loads(upload["params"]["session"])["last_batch_flag"] is True
    assert "appsecret_proof" in upload["params"]
    assert "ada@example.com" not in json.dumps(graph.requests)  # only hashes leave
    assert (run.sent, run.accepted, run.invalid) == (2, 2, 0)


def test_a_member_who_leaves_is_removed_and_a_second_sync_sends_nothing(graph, destination):
    ada, grace = member("ada@example.com"), member("grace@example.com")
    audience_refresh(audience=destination.audience)
    destination_sync(destination=destination)
    destination.refresh_from_db()
    grace.consents.all().delete()
    ConsentFactory.create(lead=grace, purpose="ad_audiences", status="withdrawn")
    audience_refresh(audience=destination.audience)

    run = destination_sync(destination=destination)

    assert (run.status, run.to_add, run.to_remove) == ("succeeded", 0, 1)
    assert held(graph, destination, [ada])
    assert graph.requests[-1]["method"] == "DELETE"
    before = len(graph.requests)
    assert destination_sync(destination=destination).sent == 0
    assert len(graph.requests) == before


def test_adds_go_in_sessions_of_at_most_10000_rows_and_removals_in_small_requests(graph, destination):
    destination.remote_audience_id = meta_audiences.audience_create(
        access_token=TOKEN, ad_account_id="1234567890", name="Big"
    )
    uploader = meta_audiences.MetaUploader(access_token=TOKEN, audience_id=destination.remote_audience_id)
    rows = [UploadRow(key=str(n), hashes={"EMAIL": f"{n:064x}"}) for n in range(10_001)]

    with pytest.raises(meta_audiences.IntegrationPermanentError, match="At most 10000 rows"):
        uploader.add(rows)
    assert not graph.requests[1:]  # refused before anything was sent
    first, second = uploader.add(rows[:10_000]), uploader.add(rows[10_000:], last=True)
    uploader.add(rows[:1], last=True)  # after the last batch, a new session
    removed = uploader.remove(rows[:1_200])

    assert (first.accepted, second.accepted, removed.accepted) == (10_000, 1, 1_200)
    sessions = [
        json.loads(r["params"]["session"]) for r in graph.requests if r["method"] == "POST" and "session" in r["params"]
    ]
    assert [(s["batch_seq"], s["last_batch_flag"]) for s in sessions] == [(1, False), (2, True), (1, True)]
    assert sessions[0]["session_id"] == sessions[1]["session_id"] != sessions[2]["session_id"]
    deletes = [r for r in graph.requests if r["method"] == "DELETE"]
    assert len(deletes) == 12  # 100 rows each
    assert max(r["url_length"] for r in deletes) < 65_536
    assert len(graph.members[destination.remote_audience_id]) == 10_001 - 1_200


def test_rows_meta_cannot_use_are_counted_per_batch(graph, destination):
    destination.remote_audience_id = meta_audiences.audience_create(access_token=TOKEN, ad_account_id="1", name="x")
    uploader = meta_audiences.MetaUploader(access_token=TOKEN, audience_id=destination.remote_audience_id)
    result = uploader.add(
        [UploadRow(key="1", hashes={"EMAIL": "a" * 64}), UploadRow(key="2", hashes={"EMAIL": "not-a-hash"})]
    )
    assert (result.accepted, result.invalid, result.reasons) == (1, 1, {"invalid entry (Meta)": 1})


@pytest.mark.parametrize(
    ("code", "subcode", "transient", "status"),
    [
        (17, 2446079, False, 400),
        (613, 1487742, False, 400),
        (4, None, False, 400),
        (80003, None, True, 400),
        (2, None, True, 503),
        (1, None, False, 500),
        (2650, None, False, 400),
        (100, None, True, 400),
    ],
)
def test_rate_limits_and_temporary_errors_are_retried_and_the_sync_completes(
    graph, destination, code, subcode, transient, status
):
    ada, grace = one_synced_and_one_waiting(destination)
    graph.fail_next(code, subcode=subcode, transient=transient, status=status, times=2)

    run = destination_sync(destination=destination)

    assert run.status == "succeeded", run.error
    assert run.retries == 2
    assert SyncBatch.objects.filter(run=run).get().attempts == 3
    assert held(graph, destination, [ada, grace])


def test_a_wait_meta_asks_for_ends_the_run_for_the_next_one_to_take_up(graph, destination):
    one_synced_and_one_waiting(destination)
    usage = {"1234567890": [{"type": "custom_audience", "estimated_time_to_regain_access": 12}]}
    graph.fail_next(80003, transient=True, usage=usage)

    run = destination_sync(destination=destination)

    assert run.status == "failed"
    assert "Meta error 80003" in run.error
    assert SyncBatch.objects.filter(run=run).get().attempts == 1  # not held for 12 minutes in a worker
    assert SyncLedger.objects.filter(destination=destination).count() == 1
    destination.refresh_from_db()
    assert destination.is_active  # a rate limit pauses nothing
    assert not destination.connection.paused_reason
    assert "12-minute pause" in run.error
    assert (
        timezone.now() + dt.timedelta(minutes=11)
        < destination.connection.wait_until
        < timezone.now() + dt.timedelta(minutes=13)
    )
    assert destinations_sync_due() == 0  # the schedule waits as long as Meta asked
    assert sync_task(destination_pk=destination.pk) == "waiting"
    Connection.objects.filter(pk=destination.connection_id).update(wait_until=timezone.now() - dt.timedelta(seconds=1))
    assert destinations_sync_due() == 1  # then takes it up, though its schedule has not come round
    destination.refresh_from_db()
    assert destination_sync(destination=destination).status == "succeeded"
    destination.refresh_from_db()
    assert destination.connection.failures == 0  # the run of failures is over


@pytest.mark.parametrize(
    ("code", "subcode", "expected"),
    [(190, 463, "Renew the access token"), (200, None, "grant ads_management"), (294, None, "grant ads_management")],
)
def test_an_expired_or_under_permissioned_token_pauses_the_destination(graph, destination, code, subcode, expected):
    member("ada@example.com")
    audience_refresh(audience=destination.audience)
    graph.fail_next(code, subcode=subcode, message="Error validating access token")

    run = destination_sync(destination=destination)

    destination.refresh_from_db()
    assert run.status == "failed"
    assert f"Meta error {code}" in run.error
    assert expected in run.error
    assert "paused" in run.error
    assert not destination.sending()
    assert SyncLedger.objects.count() == 0


def test_a_restricted_audience_blocks_the_destination_with_metas_reason(graph, destination):
    one_synced_and_one_waiting(destination)
    graph.fail_next(100, subcode=1713230, message="This audience is restricted: health and wellness")

    run = destination_sync(destination=destination)

    destination.refresh_from_db()
    assert run.status == "failed"
    assert "Meta restricted this audience" in run.error
    assert "health and wellness" in run.error
    assert not destination.sending()


def test_an_invalid_parameter_is_permanent_and_not_retried(graph, destination):
    one_synced_and_one_waiting(destination)
    graph.fail_next(100, message="Invalid parameter")

    run = destination_sync(destination=destination)

    destination.refresh_from_db()
    assert run.status == "failed"
    assert SyncBatch.objects.filter(run=run).get().attempts == 1
    assert "Meta error 100: Invalid parameter" in run.error
    assert destination.is_active
    assert not destination.connection.paused_reason


def test_a_wrong_token_is_refused_by_the_fake_as_meta_does(graph, destination):
    destination.connection.credentials = "EAAB-wrong"
    destination.connection.save()
    member("ada@example.com")
    audience_refresh(audience=destination.audience)
    run = destination_sync(destination=destination)
    assert run.status == "failed"
    assert "Meta error 190/463" in run.error


def test_no_identifier_or_token_reaches_the_logs_of_a_sync(graph, destination, caplog):
    member("ada@example.com", first_name="Ada", phone="+14155552671")
    audience_refresh(audience=destination.audience)
    with caplog.at_level(logging.DEBUG):
        run = destination_sync(destination=destination)
    assert run.status == "succeeded"
    logged = caplog.text.lower()
    for secret in (
        "ada@example.com",
        "4155552671",
        TOKEN.lower(),
        *lead_hashes(destination.audience.members.get().lead).values(),
    ):
        assert secret.lower() not in logged


def test_a_meta_destination_needs_an_ad_account_number_and_a_token():
    bad_account = Connection(name="Meta", platform="meta", account_id="my account", credentials=TOKEN)
    no_token = Connection(name="Meta", platform="meta", account_id="act_123")
    with pytest.raises(ValidationError) as account_error:
        bad_account.full_clean()
    with pytest.raises(ValidationError) as token_error:
        no_token.full_clean()
    assert account_error.value.message_dict["account_id"] == [
        "Enter the Meta ad account's number, e.g. act_1234567890."
    ]
    assert "access token" in token_error.value.message_dict["credentials"][0]
    pixel_only = Connection.objects.create(
        name="Pixel", platform="meta", credentials=TOKEN
    )  # conversions need no account
    pixel_only.full_clean()
    audiences_there = Destination(audience=AudienceFactory.create(), name="Meta", connection=pixel_only)
    with pytest.raises(ValidationError) as no_account:
        audiences_there.full_clean()
    assert "Audiences are kept in an ad account" in no_account.value.message_dict["connection"][0]


def test_the_admin_shows_each_destinations_health_and_a_badge_on_its_audience(graph, destination, admin_client):
    member("ada@example.com")
    audience_refresh(audience=destination.audience)
    destination_sync(destination=destination)
    destinations = admin_client.get("/admin/audiences/destination/").content.decode()
    audiences = admin_client.get("/admin/audiences/audience/").content.decode()
    assert 'class="sync-health sync-ok"' in destinations
    assert "1 sent, 1 accepted, 0 invalid" in destinations
    assert 'class="sync-badge sync-ok"' in audiences

    member("grace@example.com")
    audience_refresh(audience=destination.audience)
    usage = {"1234567890": [{"type": "custom_audience", "estimated_time_to_regain_access": 30}]}
    graph.fail_next(80003, transient=True, usage=usage)
    destination.refresh_from_db()
    destination_sync(destination=destination)
    destinations = admin_client.get("/admin/audiences/destination/").content.decode()
    assert 'class="sync-health sync-waiting"' in destinations
    assert "30-minute pause" in destinations
    assert 'class="sync-badge sync-waiting"' in admin_client.get("/admin/audiences/audience/").content.decode()

    Connection.objects.filter(pk=destination.connection_id).update(wait_until=None)
    graph.fail_next(190, subcode=463, message="Session has expired")
    destination.refresh_from_db()
    destination_sync(destination=destination)
    destinations = admin_client.get("/admin/audiences/destination/").content.decode()
    assert 'class="sync-health sync-paused"' in destinations
    assert "Paused: Meta error 190/463: Session has expired" in destinations
    assert "paused until its connection sends again" in destinations
    assert "1 sent, 1 accepted, 0 invalid" in destinations  # the last success is still shown
    assert 'class="sync-badge sync-paused"' in admin_client.get("/admin/audiences/audience/").content.decode()


def connection_form(**fields):
    return {
        "name": "Meta",
        "platform": "meta",
        "account_id": "act_1234567890",
        "login_customer_id": "",
        "google_api": "data_manager",
        "endpoint_url": "",
        "credentials": TOKEN,
        "is_active": "on",
        **fields,
    }


def test_a_token_is_checked_with_meta_when_it_is_saved(graph, admin_client):
    expired = admin_client.post("/admin/audiences/connection/add/", connection_form(credentials="EAAB-old"))
    graph.forbidden_accounts.add("act_999")
    no_access = admin_client.post("/admin/audiences/connection/add/", connection_form(account_id="act_999"))

    assert expired.status_code == no_access.status_code == 200  # the form again, with the errors
    assert "Meta error 190/463: Error validating access token" in expired.content.decode()
    assert "Renew the access token" in expired.content.decode()
    assert "Meta error 200" in no_access.content.decode()
    assert not Connection.objects.exists()

    saved = admin_client.post("/admin/audiences/connection/add/", connection_form())
    assert saved.status_code == 302
    account = Connection.objects.get()
    assert account.credentials == TOKEN
    checks = [r for r in graph.requests if r["method"] == "GET"]
    assert [r["path"].strip("/").rsplit("/", 1)[1] for r in checks] == ["act_1234567890", "act_999", "act_1234567890"]

    audience = AudienceFactory.create(rule=OPTED_IN)
    added = admin_client.post(
        "/admin/audiences/destination/add/",
        {
            "audience": audience.pk,
            "name": "Meta prospects",
            "connection": account.pk,
            "remote_audience_id": "",
            "mode": "mirror",
            "value_currency": "",
            "schedule_minutes": 60,
            "is_active": "on",
        },
    )
    assert added.status_code == 302
    assert Destination.objects.get().connection == account


def test_new_credentials_that_work_resume_a_paused_connection(graph, destination, admin_client):
    Connection.objects.filter(pk=destination.connection_id).update(paused_reason="Meta error 190/463: expired.")
    url = f"/admin/audiences/connection/{destination.connection_id}/change/"
    kept = admin_client.post(url, connection_form(credentials="", account_id=destination.connection.account_id))
    assert kept.status_code == 302
    destination.refresh_from_db()
    assert not destination.sending()  # nothing changed that would fix it
    renewed = admin_client.post(url, connection_form(account_id=destination.connection.account_id))
    assert renewed.status_code == 302
    destination.refresh_from_db()
    assert destination.sending()
    assert destination.connection.credentials == TOKEN


def test_the_daily_check_pauses_a_destination_whose_token_has_expired(graph, destination):
    assert connections_credentials_check() == 0
    graph.fail_next(190, subcode=463, message="Session has expired")

    assert connections_credentials_check() == 1

    destination.refresh_from_db()
    assert not destination.sending()
    reason = destination.connection.paused_reason
    assert reason.startswith("Daily credentials check: Meta error 190/463: Session has expired.")
    graph.fail_next(190, subcode=463, message="Session has expired")
    assert connections_credentials_check() == 0  # still refused: paused already, not counted again
    assert connections_credentials_check() == 0  # and the day the token works again…
    destination.refresh_from_db()
    assert destination.sending()  # …it resumes


def test_meta_graph_url_points_only_ladders_sessions_at_a_stand_in(monkeypatch, settings, destination):
    stand_in = MetaGraphFake(access_token=TOKEN)
    try:
        monkeypatch.setattr(FacebookSession, "GRAPH", "http://127.0.0.1:9")  # nothing listens there
        settings.META_GRAPH_URL = stand_in.url
        member("ada@example.com")
        audience_refresh(audience=destination.audience)
        assert destination_sync(destination=destination).status == "succeeded"
        assert len(stand_in.members[Destination.objects.get().remote_audience_id]) == 1
        assert FacebookSession.GRAPH == "http://127.0.0.1:9"  # the SDK's own default is left alone
    finally:
        stand_in.stop()


def test_a_weekly_replace_undoes_drift_at_meta(graph, destination):
    ada, grace = one_synced_and_one_waiting(destination)
    destination_sync(destination=destination)
    audience_id = destination.remote_audience_id
    stranger = tuple(sorted({"EMAIL": "f" * 64}.items()))
    graph.members[audience_id].add(stranger)  # added in Meta's own tools
    graph.members[audience_id].discard(next(iter(m for m in graph.members[audience_id] if m != stranger)))  # lost

    run = destination_reconcile(destination=destination)

    assert run.status == "succeeded", run.error
    assert (run.sent, run.accepted) == (2, 2)
    assert held(graph, destination, [ada, grace])
    replaces = [r for r in graph.requests if r["path"].endswith("/usersreplace")]
    assert [json.loads(r["params"]["session"])["last_batch_flag"] for r in replaces] == [True]
    assert list(run.batches.values_list("kind", "size")) == [("replace", 2)]
    assert destinations_reconcile() == 1  # the beat's weekly task does the same for every active Meta destination


def test_a_replace_across_batches_is_one_session_and_keeps_every_batch(graph, destination, monkeypatch):
    monkeypatch.setattr(meta_audiences.MetaUploader, "batch_size", 2)
    leads = [member(f"person{n}@example.com") for n in range(5)]
    audience_refresh(audience=destination.audience)
    destination_sync(destination=destination)
    destination.refresh_from_db()

    run = destination_reconcile(destination=destination)

    assert run.status == "succeeded", run.error
    sessions = [json.loads(r["params"]["session"]) for r in graph.requests if r["path"].endswith("/usersreplace")]
    assert [(s["batch_seq"], s["last_batch_flag"]) for s in sessions] == [(1, False), (2, False), (3, True)]
    assert len({s["session_id"] for s in sessions}) == 1
    assert held(graph, destination, leads)
