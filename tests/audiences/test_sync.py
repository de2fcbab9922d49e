"""The sync ledger with the sandbox destination: only consented members go out, only what changed is sent, and
after any sequence of changes and failed batches the destination holds exactly the eligible members."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiences.models import AudienceMember, SyncBatch, SyncLedger
from audiences.sync import destination_sync, lead_hashes
from integrations.audience_upload import UploadResult
from integrations.errors import IntegrationPermanentError, IntegrationTransientError
from leads.models import Consent
from tests.factories import AudienceFactory, ConsentFactory, LeadFactory, days_ago, destination_make

pytestmark = pytest.mark.django_db


class PlatformDouble:
    """A destination that holds what it was told, failing the calls it is asked to fail."""

    platform = "sandbox"
    batch_size = 3

    def __init__(self, failures=()):
        self.held: set[str] = set()
        self.failures = list(failures)  # per call: None, "transient" or "permanent"
        self.calls = 0

    def _call(self, rows, adding):
        self.calls += 1
        failure = self.failures.pop(0) if self.failures else None
        if failure == "transient":
            raise IntegrationTransientError("Injected: try again")
        if failure == "permanent":
            raise IntegrationPermanentError("Injected: refused")
        keys = {row.key for row in rows}
        self.held = self.held | keys if adding else self.held - keys
        return UploadResult(accepted=len(rows))

    def add(self, rows, *, last=False):
        return self._call(rows, True)

    def remove(self, rows):
        return self._call(rows, False)


def member(audience, *, consent=True, **fields):
    lead = LeadFactory.create(**fields)
    AudienceMember.objects.create(audience=audience, lead=lead, since=days_ago(1))
    if consent:
        ConsentFactory.create(lead=lead, occurred_at=days_ago(2))
    return lead


@pytest.fixture
def destination():
    return destination_make(audience=AudienceFactory.create(), name="Preview", platform="sandbox")


def test_only_consented_members_are_sent_hashed_and_a_second_sync_sends_nothing(destination):
    ann = member(destination.audience, email="ann@example.com", phone="+14155550123")
    member(destination.audience, consent=False)
    run = destination_sync(destination=destination)
    assert (run.status, run.to_add, run.sent, run.accepted) == ("succeeded", 1, 1, 1)
    (batch,) = SyncBatch.objects.filter(run=run)
    assert batch.payload == [lead_hashes(ann)]
    assert set(batch.payload[0]) == {"EMAIL", "PHONE", "FN", "LN", "COUNTRY", "EXTERN_ID"}
    assert "ann@example.com" not in str(batch.payload)
    assert SyncLedger.objects.get().state == "added"
    again = destination_sync(destination=destination)
    assert (again.to_add, again.to_remove, again.sent) == (0, 0, 0)


def test_leaving_the_audience_or_withdrawing_consent_is_one_removal_with_the_stored_hashes(destination):
    leaver, withdrawer = member(destination.audience), member(destination.audience)
    destination_sync(destination=destination)
    stored = SyncLedger.objects.get(lead=leaver).hashes
    AudienceMember.objects.filter(lead=leaver).delete()
    ConsentFactory.create(lead=withdrawer, status=Consent.Status.WITHDRAWN)
    run = destination_sync(destination=destination)
    assert (run.to_add, run.to_remove, run.sent) == (0, 2, 2)
    payload = SyncBatch.objects.get(run=run).payload
    assert payload is not None
    assert payload[0] == stored
    assert set(SyncLedger.objects.values_list("state", flat=True)) == {"removed"}
    assert destination_sync(destination=destination).sent == 0  # never added back, never removed twice


def test_additive_destinations_never_remove(destination):
    destination.mode = "additive"
    destination.save()
    lead = member(destination.audience)
    destination_sync(destination=destination)
    AudienceMember.objects.filter(lead=lead).delete()
    run = destination_sync(destination=destination)
    assert (run.to_remove, run.sent) == (0, 0)


def test_a_dry_run_previews_and_changes_nothing(destination):
    for _ in range(3):
        member(destination.audience)
    run = destination_sync(destination=destination, dry_run=True)
    assert (run.status, run.to_add, run.sent) == ("succeeded", 3, 0)
    preview = SyncBatch.objects.get(run=run).payload
    assert preview is not None
    assert len(preview) == 3
    assert SyncLedger.objects.count() == 0


def test_transient_errors_are_retried_and_a_refused_batch_is_resent_next_time(destination):
    for _ in range(5):
        member(destination.audience)
    platform = PlatformDouble(failures=["transient", None, "permanent"])
    run = destination_sync(destination=destination, uploader=platform)
    assert (run.status, run.retries, run.accepted) == ("failed", 1, 3)
    assert run.error == "Injected: refused"
    assert SyncLedger.objects.filter(state="added").count() == 3
    retry = destination_sync(destination=destination, uploader=platform)
    assert (retry.status, retry.to_add, retry.accepted) == ("succeeded", 2, 2)
    assert len(platform.held) == 5


def test_a_platform_destination_without_credentials_fails_the_run_saying_so_and_waits(destination):
    destination.connection.platform = "google"
    destination.connection.save()
    member(destination.audience)
    run = destination_sync(destination=destination)
    destination.refresh_from_db()
    assert run.status == "failed"
    assert "has no credentials" in run.error
    assert not destination.sending()
    assert SyncLedger.objects.count() == 0


steps = st.lists(
    st.one_of(
        st.tuples(st.just("join"), st.integers(0, 5)),
        st.tuples(st.just("leave"), st.integers(0, 5)),
        st.tuples(st.just("consent"), st.integers(0, 5), st.booleans()),
        st.tuples(st.just("sync"), st.lists(st.sampled_from([None, "transient", "permanent"]), max_size=4)),
    ),
    max_size=15,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps)
def test_the_ledger_converges_whatever_happens(operations):
    destination = destination_make(audience=AudienceFactory.create(), name="Converge", platform="sandbox")
    audience = destination.audience
    people = [LeadFactory.create() for _ in range(6)]
    platform = PlatformDouble()
    for operation in operations:
        lead = people[operation[1]] if operation[0] != "sync" else None
        if operation[0] == "join":
            AudienceMember.objects.get_or_create(audience=audience, lead=lead, defaults={"since": days_ago(0)})
        elif operation[0] == "leave":
            AudienceMember.objects.filter(audience=audience, lead=lead).delete()
        elif operation[0] == "consent":
            ConsentFactory.create(lead=lead, status="granted" if operation[2] else "withdrawn")
        else:
            platform.failures = list(operation[1])
            destination_sync(destination=destination, uploader=platform)
    platform.failures = []
    assert destination_sync(destination=destination, uploader=platform).status == "succeeded"
    eligible = {
        str(lead.pk)
        for lead in people
        if AudienceMember.objects.filter(audience=audience, lead=lead).exists()
        and (latest := lead.consents.order_by("-occurred_at", "-id").first()) is not None
        and latest.status == "granted"
    }
    assert platform.held == eligible


def test_withdrawing_consent_queues_the_removal_at_once(destination, django_capture_on_commit_callbacks):
    from audiences import tasks
    from leads.models import LeadMark

    lead = member(destination.audience)
    destination_sync(destination=destination)
    ConsentFactory.create(lead=lead, status=Consent.Status.WITHDRAWN)
    LeadMark.objects.create(lead=lead, marked_at=days_ago(1))  # as the admin edit that recorded it does
    assert tasks.audiences_refresh_marked() == 1  # its queued sync runs in-process here
    assert SyncLedger.objects.get(lead=lead).state == "removed"
    assert SyncBatch.objects.filter(kind="remove").count() == 1


def test_a_member_whose_identifiers_change_is_told_again_once(destination):
    lead = member(destination.audience, email="old@example.com")
    destination_sync(destination=destination)
    old = SyncLedger.objects.get(lead=lead).hashes
    lead.email = "new@example.com"
    lead.save()
    run = destination_sync(destination=destination)
    assert (run.to_update, run.sent) == (1, 2)
    removal, addition = SyncBatch.objects.filter(run=run).order_by("id")
    assert (removal.kind, removal.payload) == ("remove", [old])
    assert (addition.kind, addition.payload) == ("add", [lead_hashes(lead)])
    assert SyncLedger.objects.get(lead=lead).hashes == lead_hashes(lead)
    lead.score = 5  # an edit that changes no identifier sends nothing
    lead.save()
    assert destination_sync(destination=destination).sent == 0
