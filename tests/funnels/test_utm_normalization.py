"""UTM values are stored one way however they were typed into a campaign's links: trimmed, inner blanks made one
space, lower case — so a rule, a channel report and a campaign join see one source, not three."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from analytics.reports import channels_report
from analytics.reports.ranges import Period
from analytics.services import rollups_catch_up
from audiences.rules import rule_members
from leads.contracts import Attribution, normalize_utm
from leads.models import Event, Touch
from tests.funnels.test_pages import optin_form, url

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Facebook", "facebook"),
        ("  FACEBOOK\t", "facebook"),
        ("Spring  Sale\u00a02026", "spring sale 2026"),
        ("Île-de-France", "île-de-france"),
        ("120330000123", "120330000123"),
        ("", ""),
        ("x" * 300, "x" * 200),
    ],
)
def test_a_utm_value_is_trimmed_spaced_once_lowercased_and_cut(raw, stored):
    assert normalize_utm(raw) == stored
    assert Attribution(occurred_at=timezone.now(), utm_source=raw).utm_source == stored


def test_every_utm_field_is_normalized_and_other_fields_are_kept_as_given():
    touch = Attribution(
        occurred_at=timezone.now(),
        utm_source="Google",
        utm_medium="CPC",
        utm_campaign="Brand Search",
        utm_content="Ad A",
        utm_term="Running Shoes",
        gclid="CjwKCAiA",
        landing_url="https://Shop.example.com/?utm_source=Google",
    )
    assert (touch.utm_source, touch.utm_medium, touch.utm_campaign, touch.utm_content, touch.utm_term) == (
        "google",
        "cpc",
        "brand search",
        "ad a",
        "running shoes",
    )
    assert (touch.gclid, touch.landing_url) == ("CjwKCAiA", "https://Shop.example.com/?utm_source=Google")


def test_the_api_and_the_hosted_form_store_normalized_touches(client, live_funnel):
    funnel, _ = live_funnel
    response = client.post(
        "/api/v1/optins",
        data=json.dumps(
            {
                "key": funnel.public_key,
                "id": "sub-api",
                "email": "api@example.com",
                "url": "https://shop.example.com/?utm_source=%20FaceBook%20&utm_campaign=Spring%20%20Sale",
            }
        ),
        content_type="application/json",
        HTTP_ORIGIN="https://shop.example.com",
    )
    assert response.status_code == 201, response.content
    data = optin_form(client, funnel, "?utm_source=FACEBOOK&utm_medium=Paid&utm_campaign=Spring+Sale")
    data["email"] = "form@example.com"
    assert client.post(url(funnel, "optin"), data).status_code == 302

    touches = Touch.objects.filter(kind="first").order_by("lead__email")
    assert list(touches.values_list("lead__email", "utm_source", "utm_campaign")) == [
        ("api@example.com", "facebook", "spring sale"),
        ("form@example.com", "facebook", "spring sale"),
    ]
    landing = Event.objects.filter(type="page_view").earliest("id")
    assert (landing.properties["utm_source"], landing.properties["utm_medium"]) == ("facebook", "paid")

    # A rule typed with the campaign's own spelling matches the landing the form lead made.
    rule = {"event": {"type": "page_view", "utm_source": " FaceBook", "utm_campaign": "Spring  Sale"}}
    assert [lead.email for lead in rule_members(rule)] == ["form@example.com"]

    rollups_catch_up()
    today = timezone.localdate()
    rows = [
        r
        for r in channels_report(period=Period(today - dt.timedelta(days=1), today + dt.timedelta(days=1)))
        if r.touch == "first"
    ]
    assert [(r.source, r.campaign, r.leads) for r in rows] == [("facebook", "spring sale", 2)]
