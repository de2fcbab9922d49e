"""Server-side conversions: outbox rows written with their events, delivered by the official clients to the fakes."""

import datetime as dt
import hashlib
import json
import logging

import pytest
from django.utils import timezone

from audiences import conversions
from audiences.connections import connection_check
from audiences.models import Connection, ConversionDelivery, Destination
from audiences.services import lead_erase
from audiences.tasks import conversions_dispatch
from leads.contracts import Attribution, ClientContext, ConsentAnswer
from leads.models import ConversionOutbox, Event
from leads.services import event_record, lead_capture
from tests.conftest import CONVERSIONS_TOKEN
from tests.factories import AudienceFactory, conversion_destination_make
from tests.fakes.google_dm import GoogleDataManagerFake
from tests.funnels.test_pages import optin_form, url

pytestmark = pytest.mark.django_db

TOKEN = CONVERSIONS_TOKEN
GOOGLE_TOKEN = "ya29.conversions-" + "g" * 30
PIXEL = "1122334455"
ACTION = "987654321"
BROWSER = ClientContext(ip="203.0.113.7", user_agent="Mozilla/5.0 (X11; Linux x86_64)", fbp="fb.1.1700000000000.42")
ADS = ConsentAnswer(purpose="ad_audiences", wording="Show me relevant ads.", granted=True)


@pytest.fixture
def graph(conversions_graph):
    return conversions_graph


@pytest.fixture
def google(settings):
    fake = GoogleDataManagerFake(access_token=GOOGLE_TOKEN)
    settings.GOOGLE_DATAMANAGER_URL = fake.url
    yield fake
    fake.stop()


@pytest.fixture
def meta_pixel(graph):
    return conversion_destination_make(
        name="Pixel", platform="meta", remote_id=PIXEL, credentials=TOKEN, test_event_code="TEST123"
    )


@pytest.fixture
def google_action(google):
    return conversion_destination_make(
        name="Ads", platform="google", remote_id=ACTION, account_id="123-456-7890", credentials=GOOGLE_TOKEN
    )


def capture(email, *, consent=True, key=None, client=BROWSER, when=None, **attribution):
    return lead_capture(
        email=email,
        idempotency_key=key or f"optin:{email}",
        source="test",
        consents=[ADS] if consent else [],
        attribution=Attribution(occurred_at=when or timezone.now(), **attribution),
        client=client,
        occurred_at=when,
    )


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


def test_an_optin_reaches_meta_as_a_lead_with_its_event_id_click_and_browser(graph, meta_pixel):
    captured = capture("ada@example.com", fbc="fb.1.1700000000000.IwAR1", landing_url="https://shop.example.com/x")
    event = Event.objects.get(type="optin")
    assert ConversionOutbox.objects.get().event_id == event.pk  # written with the event

    assert conversions_dispatch() == 1

    sent = graph.events[PIXEL][("Lead", event.idempotency_key)]
    assert sent["action_source"] == "website"
    assert sent["event_source_url"] == "https://shop.example.com/x"
    assert sent["user_data"]["em"] == [sha256("ada@example.com")]
    assert sent["user_data"]["external_id"] == [sha256(str(captured.lead_public_id))]
    assert (sent["user_data"]["client_ip_address"], sent["user_data"]["client_user_agent"]) == (
        BROWSER.ip,
        BROWSER.user_agent,
    )
    assert (sent["user_data"]["fbc"], sent["user_data"]["fbp"]) == ("fb.1.1700000000000.IwAR1", BROWSER.fbp)
    assert graph.test_event_codes == ["TEST123"]
    delivery = ConversionDelivery.objects.get()
    assert (delivery.status, delivery.client) == ("sent", {})  # the browser context is not kept
    assert delivery.reference.startswith("Afake")
    assert not ConversionOutbox.objects.exists()
    assert conversions_dispatch() == 0  # nothing twice


def test_a_purchase_reaches_google_with_value_currency_click_and_consent(google, google_action):
    captured = capture("grace@example.com", gclid="Cj0KCQ-gclid")
    lead_id = captured.lead_id
    from leads.models import Lead

    event_record(
        type="purchase",
        idempotency_key="purchase:7:3",
        lead=Lead.objects.get(pk=lead_id),
        properties={"amount_minor": 4700, "currency": "EUR", "role": "tripwire"},
        client=BROWSER,
    )

    assert conversions_dispatch() == 2

    purchase = google.conversions[ACTION]["purchase:7:3"]
    assert (purchase["conversionValue"], purchase["currency"]) == (47.0, "EUR")
    assert purchase["adIdentifiers"]["gclid"] == "Cj0KCQ-gclid"
    assert purchase["consent"] == {"adUserData": 1, "adPersonalization": 1}
    assert purchase["eventDeviceInfo"]["userAgent"] == BROWSER.user_agent
    identifiers = purchase["userData"]["userIdentifiers"]
    assert {"emailAddress": sha256("grace@example.com")} in identifiers
    assert set(google.conversions[ACTION]) == {"optin:grace@example.com", "purchase:7:3"}


def test_without_ad_consent_nothing_is_sent_and_the_delivery_says_why(graph, meta_pixel):
    capture("ada@example.com", consent=False)

    assert conversions_dispatch() == 0

    delivery = ConversionDelivery.objects.get()
    assert delivery.status == "dropped"
    assert "No ad consent" in delivery.reason
    assert graph.events == {}


def test_an_event_older_than_meta_accepts_is_dropped_with_its_reason_and_google_still_gets_it(
    graph, google, meta_pixel, google_action
):
    capture("ada@example.com", when=timezone.now() - dt.timedelta(days=8))

    conversions_dispatch()

    meta, google_delivery = (ConversionDelivery.objects.get(destination=d) for d in (meta_pixel, google_action))
    assert (meta.status, meta.reason) == ("dropped", "Older than the platform accepts: seven days (Meta).")
    assert google_delivery.status == "sent"
    assert graph.events == {}  # Meta would have refused the whole request


def test_throttling_backs_off_and_the_retry_sends_each_event_once(graph, meta_pixel):
    capture("ada@example.com")
    graph.fail_next(17, subcode=2446079)

    assert conversions_dispatch() == 0
    delivery = ConversionDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at > timezone.now() + dt.timedelta(seconds=30)
    assert "Meta error 17" in delivery.reason
    assert conversions_dispatch() == 0  # not due yet

    meta_pixel.connection.refresh_from_db()
    assert meta_pixel.connection.wait_until > timezone.now() + dt.timedelta(seconds=30)  # the whole connection waits
    ConversionDelivery.objects.update(next_attempt_at=timezone.now())
    Connection.objects.update(wait_until=timezone.now())
    assert conversions_dispatch() == 1
    assert len(graph.events[PIXEL]) == 1
    assert ConversionDelivery.objects.get().status == "sent"


def test_a_refused_token_pauses_the_destination_and_keeps_its_conversions(graph, meta_pixel):
    capture("ada@example.com")
    graph.access_token = "rotated"

    conversions_dispatch()

    meta_pixel.refresh_from_db()
    delivery = ConversionDelivery.objects.get()
    assert meta_pixel.connection.paused_reason
    assert delivery.status == "pending"
    assert "Meta error 190" in delivery.reason
    assert "paused" in delivery.reason

    graph.access_token = TOKEN
    assert connection_check(meta_pixel.connection) is True  # the daily check (or a person) finds it works again
    assert conversions_dispatch() == 1


def test_google_refusing_the_request_fails_that_batch_with_googles_reason(google, google_action):
    capture("ada@example.com")
    google.fail_next(http=400, status="INVALID_ARGUMENT", reason="INVALID_DESTINATION", message="No such action.")

    conversions_dispatch()

    delivery = ConversionDelivery.objects.get()
    assert delivery.status == "failed"
    assert delivery.reason == "Google INVALID_ARGUMENT INVALID_DESTINATION: No such action."


def test_erasure_drops_what_was_not_yet_sent(graph, meta_pixel):
    captured = capture("ada@example.com")
    conversions.conversions_fan_out()
    from leads.models import Lead

    lead_erase(lead=Lead.objects.get(pk=captured.lead_id))

    assert conversions_dispatch() == 0
    delivery = ConversionDelivery.objects.get()
    assert (delivery.status, delivery.reason, delivery.client) == ("dropped", "The person was erased.", {})


def test_a_destination_reports_only_what_happens_after_it_was_added(graph):
    capture("early@example.com")
    conversion_destination_make(name="Pixel", platform="meta", remote_id=PIXEL, credentials=TOKEN)
    capture("late@example.com")

    assert conversions_dispatch() == 1
    assert [key for _, key in graph.events[PIXEL]] == ["optin:late@example.com"]


def test_the_hosted_page_records_the_browser_for_the_conversion(client, live_funnel, graph, meta_pixel):
    funnel, _ = live_funnel
    data = optin_form(client, funnel, "?fbclid=IwAR-click")
    data.update({"email": "ada@example.com", "consent_ads": "on"})
    client.cookies["_fbp"] = BROWSER.fbp

    response = client.post(url(funnel, "optin"), data, HTTP_USER_AGENT=BROWSER.user_agent, REMOTE_ADDR=BROWSER.ip)

    assert response.status_code == 302
    assert ConversionOutbox.objects.get().client == BROWSER.as_dict()
    assert conversions_dispatch() == 1
    (sent,) = graph.events[PIXEL].values()
    assert sent["user_data"]["fbp"] == BROWSER.fbp
    assert sent["user_data"]["fbc"].endswith(".IwAR-click")


def test_a_conversion_without_a_browser_is_system_generated(graph, meta_pixel):
    capture("ada@example.com", client=None)
    conversions_dispatch()
    (sent,) = graph.events[PIXEL].values()
    assert sent["action_source"] == "system_generated"


def test_conversions_log_no_identifier_token_or_browser_detail(graph, google, meta_pixel, google_action, caplog):
    captured = capture("ada@example.com", gclid="Cj0-secret-click")
    with caplog.at_level(logging.DEBUG):
        conversions_dispatch()
        capture("grace@example.com", key="second")
        graph.fail_next(2, transient=True, status=503)
        conversions_dispatch()
    logged = "\n".join(f"{record.getMessage()} {record.args}" for record in caplog.records)
    for secret in (TOKEN, GOOGLE_TOKEN, "ada@example.com", sha256("ada@example.com"), BROWSER.ip, BROWSER.user_agent):
        assert secret not in logged
    assert str(captured.lead_public_id) not in logged
    sent = [event for events in graph.events.values() for event in events.values()]
    assert json.dumps(sent).count(sha256("ada@example.com")) == 1  # sent once, though the dispatcher ran twice


def test_the_command_reports_now_and_says_what_happened(graph, meta_pixel):
    from io import StringIO

    from django.core.management import call_command

    capture("ada@example.com")
    capture("bob@example.com", consent=False)
    out = StringIO()

    call_command("conversions_send", stdout=out)

    assert "2 conversion(s) taken from the outbox" in out.getvalue()
    assert "Pixel (Meta): 1 sent, 1 dropped, 0 failed, 0 waiting" in out.getvalue()


def test_behind_a_proxy_the_browser_is_the_address_the_proxy_saw_not_one_it_was_told(rf, settings):
    from funnels.tracking import client_context

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    request = rf.post("/", HTTP_X_FORWARDED_FOR="198.51.100.66, 203.0.113.7", REMOTE_ADDR="10.0.0.2")

    assert client_context(request).ip == "203.0.113.7"  # the first entry is whatever the browser claimed


def test_one_refused_token_holds_the_audience_and_the_pixel_on_its_connection_and_one_fix_resumes_both(
    graph, meta_pixel
):
    from audiences.connections import connections_check
    from audiences.services import audience_refresh
    from audiences.sync import destination_sync
    from audiences.tasks import destination_sync as sync_task

    account = meta_pixel.connection
    account.account_id = "act_1234567890"
    account.save()
    destination = Destination.objects.create(audience=AudienceFactory.create(), name="Meta", connection=account)
    capture("ada@example.com")
    audience_refresh(audience=destination.audience)
    graph.access_token = "revoked"

    run = destination_sync(destination=destination)

    assert run.status == "failed"
    assert "paused" in run.error
    assert conversions_dispatch() == 0  # the pixel is on the same connection: held too, its conversion kept
    assert ConversionDelivery.objects.get().status == "pending"
    assert graph.events == {}
    assert sync_task(destination_pk=destination.pk) == "waiting"

    graph.access_token = TOKEN
    assert connections_check() == 0  # the daily check finds the token works again: one fix resumes both
    assert conversions_dispatch() == 1
    destination.refresh_from_db()
    assert destination_sync(destination=destination).sent == 1
