"""The audience admin: one-click presets, precise rule errors, members, growth, rebuild."""

import json

import pytest
from django.urls import reverse

from audiences.models import Audience, AudienceMember, AudienceSize
from tests.admin_forms import errors_of, form_data
from tests.factories import AudienceFactory, EventFactory, LeadFactory, days_ago

pytestmark = pytest.mark.django_db


def test_a_preset_fills_the_form_in_one_click_and_saving_builds_the_members(
    admin_client, django_capture_on_commit_callbacks
):
    lead = LeadFactory.create(email="waiting@example.com")
    EventFactory.create(lead=lead, type="optin", occurred_at=days_ago(1))
    url = reverse("admin:audiences_audience_add")
    page = admin_client.get(url).content.decode()
    assert "?preset=optin_no_tripwire" in page
    data = form_data(admin_client, f"{url}?preset=optin_no_tripwire")
    assert data["name"] == "Opted in, no tripwire within 7 days"
    assert json.loads(data["rule"])["all"][0] == {"event": {"type": "optin", "within_days": 7}}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, data)
    assert response.status_code == 302
    audience = Audience.objects.get()
    assert list(AudienceMember.objects.filter(audience=audience).values_list("lead__email", flat=True)) == [
        "waiting@example.com"
    ]
    change = admin_client.get(reverse("admin:audiences_audience_change", args=[audience.pk])).content.decode()
    assert "waiting@example.com" in change


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ('{"event": {"type": "optin", "funnel": 4242}}', "rule.event.funnel: funnel 4242 does not exist"),
        ('{"all": [{"lead": {"stage": "Nowhere"}}]}', "rule.all[0].lead.stage: there is no pipeline stage"),
        ("{not json", "Enter a valid JSON."),
    ],
)
def test_a_bad_rule_is_a_field_error_naming_the_condition(admin_client, rule, message):
    url = reverse("admin:audiences_audience_add")
    data = form_data(admin_client, url)
    data.update({"name": "Bad", "slug": "bad", "rule": rule, "refresh_minutes": "60"})
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert any(message in m for m in errors_of(response)["rule"]), errors_of(response)
    assert Audience.objects.count() == 0


def test_the_growth_chart_and_the_rebuild_action(admin_client, django_capture_on_commit_callbacks):
    audience = AudienceFactory.create(rule={"event": {"type": "optin"}})
    for day, size in ((days_ago(2).date(), 3), (days_ago(1).date(), 5)):
        AudienceSize.objects.create(audience=audience, day=day, size=size)
    page = admin_client.get(reverse("admin:audiences_audience_change", args=[audience.pk])).content.decode()
    assert "<polyline" in page
    assert "Size from 3 on" in page
    EventFactory.create(lead=LeadFactory.create(), type="optin")
    with django_capture_on_commit_callbacks(execute=True) as queued:  # a rebuild is queued, not run in the request
        response = admin_client.post(
            reverse("admin:audiences_audience_changelist"),
            {"action": "refresh_now", "_selected_action": [audience.pk]},
            follow=True,
        )
    assert f"{audience.name}: rebuild queued." in response.content.decode()
    assert len(queued) == 1
    audience.refresh_from_db()
    assert audience.member_count == 1
    assert audience.refreshed_at is not None


def test_preview_shows_the_count_and_recent_members_without_saving(admin_client):
    for email in ("one@example.com", "two@example.com"):
        EventFactory.create(lead=LeadFactory.create(email=email), type="optin")
    url = reverse("admin:audiences_audience_preview")
    page = admin_client.post(url, {"rule": '{"event": {"type": "optin"}}'}).content.decode()
    assert "2 members now" in page
    assert "one@example.com" in page
    assert Audience.objects.count() == 0
    bad = admin_client.post(url, {"rule": '{"event": {"type": "optin", "funnel": 9999}}'}).content.decode()
    assert "rule.event.funnel: funnel 9999 does not exist" in bad
    add_page = admin_client.get(reverse("admin:audiences_audience_add")).content.decode()
    assert f'formaction="{url}"' in add_page
