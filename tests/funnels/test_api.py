import datetime as dt
import json
import re
import uuid

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from leads.models import Consent, Event, Lead, Touch
from tests.factories import FunnelFactory
from tests.funnels.conftest import ADS_WORDING

pytestmark = pytest.mark.django_db
ORIGIN = "https://shop.example.com"


def post(client, path, body, *, origin=ORIGIN, content_type="application/json", raw=None):
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    data = raw if raw is not None else json.dumps(body)
    return client.post(path, data=data, content_type=content_type, **headers)


def optin_body(funnel, **extra):
    return {"key": funnel.public_key, "id": "sub-1", "email": "Ada@Example.com", **extra}


def nothing_stored():
    return (Lead.objects.count(), Consent.objects.count(), Event.objects.count()) == (0, 0, 0)


def test_optin_creates_the_lead_with_consent_attribution_and_one_event(
    client, live_funnel, django_capture_on_commit_callbacks
):
    funnel, steps = live_funnel
    body = optin_body(
        funnel,
        first_name="Ada",
        phone="(415) 555-2671",
        consents=["ad_audiences"],
        url="https://shop.example.com/ebook?utm_source=facebook&utm_campaign=spring&fbclid=IwAR1",
        referrer="https://l.facebook.com/",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "/api/v1/optins", body)

    assert response.status_code == 201, response.content
    lead = Lead.objects.get()
    assert response.json() == {"recorded": True, "next_url": f"/f/{funnel.slug}/order/"}
    assert (lead.email, lead.phone, lead.first_name, lead.country) == ("ada@example.com", "+14155552671", "Ada", "US")
    assert list(lead.consents.values_list("purpose", "status", "wording")) == [("ad_audiences", "granted", ADS_WORDING)]
    touch = Touch.objects.get(lead=lead, kind="first")
    assert (touch.utm_source, touch.utm_campaign, touch.fbclid) == ("facebook", "spring", "IwAR1")
    assert re.fullmatch(r"fb\.1\.\d{13}\.IwAR1", touch.fbc)
    last = Touch.objects.get(lead=lead, kind="last")
    assert (last.utm_source, last.utm_campaign, last.fbc) == ("facebook", "spring", touch.fbc)
    event = Event.objects.get(type="optin")
    assert (event.lead, event.funnel_id, event.step_id) == (lead, funnel.pk, steps["optin"].pk)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ada@example.com"]
    assert Event.objects.filter(type="custom", name="lead_magnet_sent", lead=lead).count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        again = post(client, "/api/v1/optins", body)
    assert again.status_code == 200
    assert again.json()["recorded"] is False
    optins = Event.objects.filter(type="optin").count()
    assert (Lead.objects.count(), optins, Consent.objects.count(), len(mail.outbox)) == (1, 1, 1, 1)


def test_the_public_key_reads_nothing_and_rewrites_nothing_of_a_known_lead(client, live_funnel):
    funnel, _ = live_funnel
    first = post(client, "/api/v1/optins", optin_body(funnel, id="s-1", first_name="Ada", phone="(415) 555-2671"))
    known = post(
        client, "/api/v1/optins", optin_body(funnel, id="s-2", first_name="Mallory", last_name="Evil", phone="")
    )
    new = post(client, "/api/v1/optins", optin_body(funnel, id="s-3", email="grace@example.com"))
    # A known address and a new one get the same answer, and no answer names a lead.
    assert first.status_code == known.status_code == new.status_code == 201
    assert set(first.json()) == set(known.json()) == set(new.json()) == {"recorded", "next_url"}
    assert known.json() == new.json()
    ada = Lead.objects.get(email="ada@example.com")
    # Only what the lead lacked is filled in (the last name); the name and phone she gave stay hers.
    assert (ada.first_name, ada.last_name, ada.phone) == ("Ada", "Evil", "+14155552671")
    submitted = Event.objects.get(type="optin", idempotency_key__endswith=":s-2").properties["submitted"]
    assert submitted == {"first_name": "Mallory", "last_name": "Evil"}


def test_a_submission_id_reused_for_another_address_is_409_and_changes_nothing(client, live_funnel):
    funnel, _ = live_funnel
    assert post(client, "/api/v1/optins", optin_body(funnel, id="same")).status_code == 201
    before = (Lead.objects.count(), Event.objects.count(), Consent.objects.count())
    reused = post(client, "/api/v1/optins", optin_body(funnel, id="same", email="grace@example.com"))
    assert reused.status_code == 409
    assert "already used for a different e-mail address" in reused.json()["id"][0]
    assert not Lead.objects.filter(email="grace@example.com").exists()
    assert (Lead.objects.count(), Event.objects.count(), Consent.objects.count()) == before
    replay = post(client, "/api/v1/optins", optin_body(funnel, id="same"))
    assert replay.status_code == 200
    assert (Lead.objects.count(), Event.objects.count(), Consent.objects.count()) == before


# Each bad opt-in field: the field named in the 400, and (part of) its message. The inbox tests send them too.
BAD_OPTIN_FIELDS = [
    ({"email": "not-an-email"}, "email", "'not-an-email' is not a valid e-mail address."),
    ({"email": "a" * 400 + "@example.com"}, "email", "Ensure this field has no more than 320 characters."),
    ({"email": "a" * 250 + "@example.com"}, "email", "An e-mail address has at most 254 characters."),
    ({"phone": "12"}, "phone", "'12' is not a valid phone number for its country."),
    ({"website": "http://spam.example"}, "website", "This field must be left empty."),
    ({"surprise": "x"}, "surprise", "Unknown field."),
    ({"consents": ["sms"]}, "consents", "is not a valid choice."),
    ({"step": "thanks"}, "step", "This funnel has no such opt-in step."),
    ({"id": ""}, "id", "This field may not be blank."),
    ({"first_name": "Ada\u0000"}, "first_name", "Null characters are not allowed."),
]


@pytest.mark.parametrize(("extra", "field", "message"), BAD_OPTIN_FIELDS)
def test_bad_optin_fields_are_400_with_field_messages_and_store_nothing(client, live_funnel, extra, field, message):
    funnel, _ = live_funnel
    response = post(client, "/api/v1/optins", optin_body(funnel, **extra))
    assert response.status_code == 400
    errors = response.json()[field]
    assert message in json.dumps(errors)
    assert nothing_stored()


def test_too_many_fields_are_refused(client, live_funnel):
    funnel, _ = live_funnel
    body = optin_body(funnel, **{f"field{i}": "x" for i in range(60)})
    response = post(client, "/api/v1/optins", body)
    assert response.status_code == 400
    assert len(response.json()) == 20  # named, but the answer stays small
    assert nothing_stored()


def test_consent_the_step_does_not_ask_for_is_refused(client, live_funnel):
    funnel, steps = live_funnel
    steps["optin"].consent_ads_text = ""
    steps["optin"].save()
    response = post(client, "/api/v1/optins", optin_body(funnel, consents=["ad_audiences"]))
    assert response.status_code == 400
    assert response.json() == {"consents": ["This step does not ask for ad_audiences consent."]}
    assert nothing_stored()


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "detail"),
    [
        (b'{"email": "\xff\xfe"}', "application/json", 400, "JSON parse error"),
        (b"{not json", "application/json", 400, "JSON parse error"),
        (b"email=a%40b.com", "application/x-www-form-urlencoded", 415, "Unsupported media type"),
        (b"[1, 2]", "application/json", 400, "The body must be a JSON object."),
    ],
)
def test_malformed_bodies_are_4xx_and_store_nothing(client, live_funnel, raw, content_type, status, detail):
    response = post(client, "/api/v1/optins", None, raw=raw, content_type=content_type)
    assert response.status_code == status
    assert detail in response.content.decode()
    assert nothing_stored()


def test_oversize_body_is_413_and_stores_nothing(client, live_funnel):
    funnel, _ = live_funnel
    response = post(client, "/api/v1/optins", optin_body(funnel, first_name="x" * 70_000))
    assert response.status_code == 413
    assert "at most 65536 are accepted" in response.json()["detail"]
    assert nothing_stored()


def test_unknown_key_origin_or_unpublished_funnel(client, live_funnel):
    funnel, _ = live_funnel
    unknown = post(client, "/api/v1/optins", optin_body(funnel, key="pk_nope"))
    assert (unknown.status_code, unknown.json()) == (401, {"detail": "Unknown funnel key."})
    assert unknown["WWW-Authenticate"].startswith("Key")
    for odd in ("pk_\x00nul", "pk_ sp ace", "x" * 41):  # not a key's shape: unknown, never a database error
        assert post(client, "/api/v1/events", {"key": odd, "events": []}).status_code == 401
    missing = post(client, "/api/v1/optins", {"id": "1", "email": "a@b.co"})
    assert (missing.status_code, missing.json()) == (400, {"key": ["This field is required: the funnel's public key."]})
    foreign = post(client, "/api/v1/optins", optin_body(funnel), origin="https://evil.example")
    assert foreign.status_code == 403
    assert foreign.json()["detail"].startswith("Origin https://evil.example is not allowed for this funnel")
    draft = FunnelFactory.create()
    unpublished = post(client, "/api/v1/optins", optin_body(draft))
    assert (unpublished.status_code, unpublished.json()) == (404, {"detail": "This funnel is not published."})
    assert nothing_stored()


def test_server_to_server_calls_without_origin_are_accepted(client, live_funnel):
    funnel, _ = live_funnel
    assert post(client, "/api/v1/optins", optin_body(funnel), origin=None).status_code == 201


def test_cors_preflight_and_headers_only_for_allowed_origins(client, live_funnel):
    allowed = client.options(
        "/api/v1/events", HTTP_ORIGIN="https://www.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert allowed.status_code == 204
    assert allowed["Access-Control-Allow-Origin"] == "https://www.example.com"
    assert allowed["Access-Control-Allow-Headers"] == "Content-Type"
    denied = client.options("/api/v1/events", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in denied


def test_optins_are_throttled_per_email(client, live_funnel):
    funnel, _ = live_funnel
    statuses = [post(client, "/api/v1/optins", optin_body(funnel, id=f"sub-{i}")).status_code for i in range(11)]
    assert statuses == [201] * 10 + [429]
    other = post(client, "/api/v1/optins", optin_body(funnel, id="sub-x", email="grace@example.com"))
    assert other.status_code == 201
    assert Event.objects.filter(type="optin").count() == 11


def events_body(funnel, events):
    return {"key": funnel.public_key, "events": events}


def test_event_batch_is_recorded_once_per_client_id(client, live_funnel):
    funnel, steps = live_funnel
    visitor = str(uuid.uuid4())
    events = [
        {
            "id": "e1",
            "type": "page_view",
            "visitor_id": visitor,
            "step": "optin",
            "url": "https://shop.example.com/?utm_source=google&gclid=G1",
        },
        {"id": "e2", "type": "custom", "name": "video_played", "visitor_id": visitor, "properties": {"seconds": 30}},
    ]
    first = post(client, "/api/v1/events", events_body(funnel, events))
    assert (first.status_code, first.json()) == (202, {"accepted": 2, "recorded": 2, "duplicates": 0})
    again = post(client, "/api/v1/events", events_body(funnel, events))
    assert again.json() == {"accepted": 2, "recorded": 0, "duplicates": 2}
    view = Event.objects.get(type="page_view")
    assert (view.step_id, view.properties["utm_source"], view.properties["gclid"], view.properties["landing"]) == (
        steps["optin"].pk,
        "google",
        "G1",
        True,
    )
    assert Event.objects.get(type="custom").properties == {"seconds": 30}


def test_events_of_a_visitor_who_opted_in_are_linked_to_the_lead(client, live_funnel):
    funnel, _ = live_funnel
    visitor = str(uuid.uuid4())
    post(client, "/api/v1/events", events_body(funnel, [{"id": "before", "type": "page_view", "visitor_id": visitor}]))
    post(client, "/api/v1/optins", optin_body(funnel, visitor_id=visitor))
    post(client, "/api/v1/events", events_body(funnel, [{"id": "after", "type": "page_view", "visitor_id": visitor}]))
    lead = Lead.objects.get()
    assert set(Event.objects.values_list("lead", flat=True)) == {lead.pk}


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([], {"events": ["Ensure this field has at least 1 elements."]}),
        (
            [{"id": str(i), "type": "page_view", "visitor_id": str(uuid.uuid4())} for i in range(101)],
            {"events": ["Ensure this field has no more than 100 elements."]},
        ),
        (
            [{"id": "1", "type": "custom", "visitor_id": str(uuid.uuid4())}],
            {"events": {"0": {"name": ["A custom event needs a name."]}}},
        ),
        (
            [{"id": "1", "type": "purchase", "visitor_id": str(uuid.uuid4())}],
            {"events": {"0": {"type": ['"purchase" is not a valid choice.']}}},
        ),
        (
            [{"id": "1", "type": "page_view", "visitor_id": "nope"}],
            {"events": {"0": {"visitor_id": ["Must be a valid UUID."]}}},
        ),
        (
            [{"id": "1", "type": "page_view", "visitor_id": str(uuid.uuid4()), "step": "nowhere"}],
            {"events": ["No step 'nowhere' in this funnel."]},
        ),
        (
            [
                {"id": "1", "type": "page_view", "visitor_id": str(uuid.uuid4())},
                {"id": "1", "type": "page_view", "visitor_id": str(uuid.uuid4())},
            ],
            {"events": ["Each event in a batch needs its own id."]},
        ),
        (
            [
                {
                    "id": "1",
                    "type": "page_view",
                    "visitor_id": str(uuid.uuid4()),
                    "properties": {str(i): i for i in range(51)},
                }
            ],
            {"events": {"0": {"properties": ["At most 50 properties."]}}},
        ),
    ],
)
def test_bad_event_batches_are_400_and_store_nothing(client, live_funnel, events, expected):
    funnel, _ = live_funnel
    response = post(client, "/api/v1/events", events_body(funnel, events))
    assert response.status_code == 400
    assert response.json() == expected
    assert Event.objects.count() == 0


def test_event_times_in_the_future_or_too_old_are_refused(client, live_funnel):
    funnel, _ = live_funnel
    visitor = str(uuid.uuid4())
    future = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    old = (timezone.now() - dt.timedelta(days=8)).isoformat()
    for when, message in ((future, "in the future"), (old, "older than 7 days")):
        response = post(
            client,
            "/api/v1/events",
            events_body(funnel, [{"id": "1", "type": "page_view", "visitor_id": visitor, "occurred_at": when}]),
        )
        assert response.status_code == 400
        assert message in response.json()["events"]["0"]["occurred_at"][0]
    assert Event.objects.count() == 0


def test_openapi_schema_validates_and_docs_are_served_without_a_cdn(client):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/optins" in schema.content
    assert b"/api/v1/events" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html


@pytest.mark.redis
def test_throttle_windows_are_counted_in_redis_and_expire(client, live_funnel):
    from django.core.cache import cache
    from django_redis import get_redis_connection

    funnel, _ = live_funnel
    assert post(client, "/api/v1/optins", optin_body(funnel, id="sub-1")).status_code == 201
    assert post(client, "/api/v1/optins", optin_body(funnel, id="sub-2")).status_code == 201

    conn = get_redis_connection("default")
    keys = sorted(conn.keys(cache.make_key("throttle:*")))
    assert [key.decode().split(":")[3] for key in keys] == ["capture_email", "capture_ip", "optin_ip"]
    assert [int(conn.get(key)) for key in keys] == [2, 2, 2]
    assert conn.ttl(keys[0]) <= 3601  # the e-mail's hour
    assert conn.ttl(keys[1]) <= 61  # the IP's minute (all capture requests)
    assert conn.ttl(keys[2]) <= 3601  # the IP's hour (sign-ups)
    assert min(conn.ttl(key) for key in keys) > 0
