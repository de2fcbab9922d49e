"""The capture front (funnels.front) in front of Django: the same answers, cheaper, and never anything else."""

import io
import json
import uuid

import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.urls import reverse

from funnels import front, snapshots
from funnels.capture import fast
from leads import inbox
from leads.models import Event

pytestmark = [pytest.mark.redis, pytest.mark.django_db]
ORIGIN = "https://shop.example.com"


@pytest.fixture(autouse=True)
def _keep_the_test_transaction():
    # As Django's test client does: a request's end must not close the connection that holds the test's transaction.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _inbox_on(settings):
    settings.EVENT_INBOX = True
    settings.SECURE_SSL_REDIRECT = False
    settings.CAPTURE_FUNNEL_CACHE_SECONDS = 60  # the front answers only from snapshots this process holds
    snapshots.forget_all()
    yield
    snapshots.forget_all()


def call(app, body: bytes, *, host="testserver", path="/api/v1/events", method="POST", scheme="http"):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": host,
        "HTTP_ORIGIN": ORIGIN,
        "REMOTE_ADDR": "203.0.113.9",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": scheme,
        "wsgi.errors": io.StringIO(),
    }
    answer: dict = {}

    def start_response(status, headers):
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(headers)

    answer["body"] = b"".join(app(environ, start_response))
    return answer


class CountingDjango:
    """Django's own handler, counting the requests the front hands on."""

    def __init__(self):
        self.django = WSGIHandler()
        self.calls = 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.django(environ, start_response)


def beacon(funnel, ids=("e1",)):
    return json.dumps(
        {
            "key": funnel.public_key,
            "events": [
                {
                    "id": event_id,
                    "type": "page_view",
                    "visitor_id": str(uuid.uuid4()),
                    "step": "optin",
                    "url": "https://shop.example.com/?utm_source=facebook&fbclid=FB1",
                }
                for event_id in ids
            ],
        }
    ).encode()


def test_the_front_serves_the_events_route():
    assert front.FAST_PATHS == {reverse("api-events"): fast.beacon_answer, reverse("api-optins"): fast.optin_answer}


def test_a_known_funnel_is_answered_by_the_front_with_the_apis_headers(live_funnel, django_assert_num_queries):
    funnel, _ = live_funnel
    django = CountingDjango()
    app = front.CaptureFront(django)
    first = call(app, beacon(funnel, ids=("a1", "a2")))  # no snapshot in this process yet: Django answers
    assert (first["status"], django.calls) == (202, 1)

    with django_assert_num_queries(0):
        second = call(app, beacon(funnel, ids=("b1", "b2")))

    assert django.calls == 1  # the front answered this one itself
    assert second["status"] == 202
    assert (
        json.loads(second["body"]) == json.loads(first["body"]) == {"accepted": 2, "recorded": None, "duplicates": None}
    )
    for name in (
        "Content-Type",
        "Vary",
        "Access-Control-Allow-Origin",
        "Access-Control-Allow-Methods",
        "X-Content-Type-Options",
        "Referrer-Policy",
        "Cross-Origin-Opener-Policy",
        "X-Frame-Options",
    ):
        assert second["headers"][name] == first["headers"][name], name
    assert inbox.inbox_size() == 4
    assert inbox.events_inbox_flush() == 4
    assert Event.objects.filter(idempotency_key=f"api:{funnel.pk}:b2").exists()


def test_a_doubtful_batch_reaches_django_with_its_body_and_gets_its_field_errors(live_funnel):
    funnel, _ = live_funnel
    django = CountingDjango()
    app = front.CaptureFront(django)
    call(app, beacon(funnel, ids=("warm",)))  # the snapshot is now in this process
    body = json.loads(beacon(funnel))
    body["events"][0]["type"] = "purchase"

    answer = call(app, json.dumps(body).encode())

    assert (answer["status"], django.calls) == (400, 2)
    assert json.loads(answer["body"]) == {"events": {"0": {"type": ['"purchase" is not a valid choice.']}}}
    assert inbox.inbox_size() == 1  # only the first batch


def test_a_host_django_refuses_is_refused_by_django(live_funnel, settings):
    funnel, _ = live_funnel
    app = front.CaptureFront(CountingDjango())
    call(app, beacon(funnel, ids=("warm",)))
    settings.ALLOWED_HOSTS = ["funnels.example.com"]

    answer = call(app, beacon(funnel), host="evil.example.net")

    assert answer["status"] == 400
    assert inbox.inbox_size() == 1


def test_plain_http_is_redirected_by_django_where_https_is_required(live_funnel, settings):
    funnel, _ = live_funnel
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    app = front.CaptureFront(CountingDjango())  # the middleware read their settings when they are made
    call(app, beacon(funnel, ids=("warm",)), scheme="https")

    redirected = call(app, beacon(funnel, ids=("x1",)))
    secure = call(app, beacon(funnel, ids=("x2",)), scheme="https")

    assert redirected["status"] == 301
    assert redirected["headers"]["Location"].startswith("https://")
    assert secure["status"] == 202
    assert secure["headers"]["Strict-Transport-Security"].startswith("max-age=3600")
    assert inbox.inbox_size() == 2  # the warm-up and the https one


def test_other_routes_and_methods_pass_through(live_funnel):
    funnel, _ = live_funnel
    django = CountingDjango()
    app = front.CaptureFront(django)
    assert call(app, b"", path="/healthz", method="GET")["body"] == b"ok"
    assert call(app, b"", method="OPTIONS")["status"] == 204
    assert django.calls == 2


def test_with_the_inbox_off_django_writes_the_events(live_funnel, settings):
    funnel, _ = live_funnel
    settings.EVENT_INBOX = False
    django = CountingDjango()
    answer = call(front.CaptureFront(django), beacon(funnel))
    assert (answer["status"], django.calls) == (202, 1)
    assert json.loads(answer["body"]) == {"accepted": 1, "recorded": 1, "duplicates": 0}


def optin(funnel, submission_id):
    return json.dumps(
        {
            "key": funnel.public_key,
            "id": submission_id,
            "email": f"{submission_id}@example.com",
            "consents": ["ad_audiences"],
        }
    ).encode()


def test_a_certain_optin_is_queued_by_the_front_with_the_apis_answer_and_headers(
    live_funnel, django_assert_num_queries
):
    funnel, _ = live_funnel
    django = CountingDjango()
    app = front.CaptureFront(django)
    first = call(app, optin(funnel, "ada"), path="/api/v1/optins")  # no snapshot in this process yet: Django answers
    assert (first["status"], django.calls) == (202, 1)

    with django_assert_num_queries(0):
        second = call(app, optin(funnel, "grace"), path="/api/v1/optins")

    assert (second["status"], django.calls) == (202, 1)
    assert json.loads(second["body"]) == json.loads(first["body"])
    assert json.loads(second["body"])["next_url"] == f"/f/{funnel.slug}/order/"
    for name in ("Content-Type", "Vary", "Access-Control-Allow-Origin", "X-Content-Type-Options", "X-Frame-Options"):
        assert second["headers"][name] == first["headers"][name], name
    assert inbox.inbox_size(inbox.OPTIN_INBOX_KEY) == 2
    assert inbox.optins_inbox_flush() == 2
    assert Event.objects.filter(type="optin", lead__email="grace@example.com").exists()
