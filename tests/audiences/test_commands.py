"""audience_preview and audience_sync: counts and members without saving; a sync with a progress bar."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from audiences.models import AudienceMember, SyncLedger, SyncRun
from tests.factories import AudienceFactory, ConsentFactory, EventFactory, LeadFactory, destination_make

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_preview_counts_and_lists_without_saving(tmp_path):
    for email in ("b@example.com", "a@example.com"):
        EventFactory.create(lead=LeadFactory.create(email=email), type="optin")
    rule = tmp_path / "rule.json"
    rule.write_text(json.dumps({"event": {"type": "optin"}}))
    assert run("audience_preview", "--rule", str(rule)) == "2 members\n"
    assert run("audience_preview", "--rule", str(rule), "--ids") == "2 members\na@example.com\nb@example.com\n"
    assert AudienceMember.objects.count() == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{nope", "is not JSON: Expecting property name enclosed in double quotes at line 1."),
        ('{"event": {"type": "signup"}}', "The rule is not valid: rule.event.type: expected one of"),
    ],
)
def test_preview_refuses_a_bad_rule_in_one_line(tmp_path, content, message):
    rule = tmp_path / "rule.json"
    rule.write_text(content)
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run("audience_preview", "--rule", str(rule))


def test_sync_rebuilds_and_sends_to_each_destination():
    audience = AudienceFactory.create(slug="buyers", rule={"event": {"type": "optin"}})
    destination_make(audience=audience, name="Preview", platform="sandbox")
    lead = LeadFactory.create()
    EventFactory.create(lead=lead, type="optin")
    ConsentFactory.create(lead=lead)
    out = run("audience_sync", "buyers")
    assert "1 members (+1, −0)" in out
    assert "Preview: Succeeded — 1 to add, 0 to remove, 1 sent, 1 accepted, 0 invalid" in out
    assert "100%" in out
    assert SyncLedger.objects.get().state == "added"


def test_sync_of_an_unknown_audience_names_the_known_ones():
    AudienceFactory.create(slug="buyers")
    with pytest.raises(CommandError, match="No audience with slug 'nope'; known slugs: buyers."):
        run("audience_sync", "nope")


def test_destination_actions_and_health(admin_client, django_capture_on_commit_callbacks):
    audience = AudienceFactory.create()
    destination = destination_make(audience=audience, name="Preview", platform="sandbox")
    lead = LeadFactory.create()
    AudienceMember.objects.create(audience=audience, lead=lead, since=lead.created_at)
    ConsentFactory.create(lead=lead)
    changelist = reverse("admin:audiences_destination_changelist")
    dry = admin_client.post(changelist, {"action": "dry_run", "_selected_action": [destination.pk]}, follow=True)
    assert "1 to add, 0 to remove; would send 1." in dry.content.decode()
    assert SyncLedger.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True) as queued:  # a sync is queued, not run in the request
        page = admin_client.post(changelist, {"action": "sync_now", "_selected_action": [destination.pk]}, follow=True)
    assert "sync queued." in page.content.decode()
    assert len(queued) == 1
    assert SyncLedger.objects.count() == 1
    page = admin_client.get(changelist).content.decode()
    assert "1 accepted, 0 invalid" in page
    assert SyncRun.objects.filter(dry_run=False).count() == 1
