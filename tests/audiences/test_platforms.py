"""The platform registry: a platform is one entry (how to reach it, check it, hash for it, batch for it); the sync
never asks which platform it talks to."""

import pytest

from audiences.connections import credentials_verify
from audiences.models import AudienceMember, SyncLedger
from audiences.sync import destination_sync, lead_hashes
from audiences.sync.platforms import PLATFORMS, Platform, platform_register
from integrations.audience_upload import UploadResult
from integrations.protocols import AppliedLater, Person, Replaceable
from tests.factories import AudienceFactory, ConsentFactory, LeadFactory, days_ago, destination_make

pytestmark = pytest.mark.django_db


class Elsewhere:
    """A platform Ladder has never heard of, holding what it is told."""

    batch_size = 2

    def __init__(self):
        self.requests: list[tuple[str, list[str]]] = []

    def add(self, rows, *, last=False):
        self.requests.append(("add", [row.hashes["EMAIL_BACKWARDS"][::-1] for row in rows]))
        return UploadResult(accepted=len(rows))

    def remove(self, rows):
        self.requests.append(("remove", [row.hashes["EMAIL_BACKWARDS"][::-1] for row in rows]))
        return UploadResult(accepted=len(rows))


class ReversingHasher:
    def hashes(self, person: Person) -> dict[str, str]:
        return {"EMAIL_BACKWARDS": person.email[::-1]}  # a stand-in scheme: this test reads what was "hashed"


@pytest.fixture
def elsewhere():
    platform = Elsewhere()
    platform_register("elsewhere", Platform(connect=lambda destination: platform, hasher=ReversingHasher, batch_size=2))
    yield platform
    PLATFORMS.pop("elsewhere")


def member(audience, email):
    lead = LeadFactory.create(email=email)
    AudienceMember.objects.create(audience=audience, lead=lead, since=days_ago(1))
    ConsentFactory.create(lead=lead, occurred_at=days_ago(2))
    return lead


def test_a_platform_registered_in_one_line_is_synced_through_its_own_client_and_hasher(elsewhere):
    audience = AudienceFactory.create()
    destination = destination_make(audience=audience, name="Elsewhere", platform="elsewhere")
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        member(audience, email)
    run = destination_sync(destination=destination)
    assert run.status == "succeeded"
    assert elsewhere.requests == [("add", ["a@example.com", "b@example.com"]), ("add", ["c@example.com"])]
    assert SyncLedger.objects.filter(destination=destination, state="added").count() == 3
    credentials_verify(destination.connection)  # nothing to ask a platform without a check
    lead = LeadFactory.create(email="d@example.com")
    assert lead_hashes(lead, platform="elsewhere") == {"EMAIL_BACKWARDS": "moc.elpmaxe@d"}
    assert destination_sync(destination=destination).sent == 0  # the ledger holds them all


def test_a_platform_nobody_registered_fails_the_run_saying_so():
    destination = destination_make(audience=AudienceFactory.create(), name="Gone", platform="gone")
    member(destination.audience, "a@example.com")
    run = destination_sync(destination=destination)
    assert (run.status, run.error) == ("failed", "Ladder cannot upload to 'gone' destinations.")


def test_what_only_some_platforms_can_do_is_a_capability_not_a_platform_name(elsewhere):
    assert not isinstance(elsewhere, Replaceable | AppliedLater)
    assert set(PLATFORMS) >= {"meta", "google", "webhook", "sandbox"}
    assert [name for name, platform in PLATFORMS.items() if platform.full_replace] == ["meta"]
