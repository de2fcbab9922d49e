"""Schemathesis over the whole OpenAPI schema, in-process: every operation, with generated valid and invalid
requests, anonymous and signed in as a marketer. No request gets a 5xx, and every answer keeps to what the schema
says: its status codes, content types and body shapes."""

import datetime as dt
import re

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import ignored_auth, missing_required_header, positive_data_acceptance

from config.wsgi import application
from funnels.services import funnel_publish
from pipeline.tokens import token_make
from tests.factories import UserFactory, ladder_funnel

ORIGIN = "https://shop.example.com"
KEY_PATTERN = r"pk_[A-Za-z0-9_-]{1,37}"
# Left out, and why. "Schema-valid data is accepted": what makes a request valid beyond its schema is data (the
# funnel's step slugs and the consents its step asks, leads that exist, an e-mail domain that can exist, a report
# range of at most 3 years), which OpenAPI cannot state; the descriptions do, and the capture tests check each rule.
# "Auth is not ignored" replays a request without credentials it finds in the security schemes, but the admin
# session rides in a cookie it does not strip; the anonymous test below shows every report refuses without it. For the
# same reason "a missing required header is refused" (the Authorization header of the staff API's token scheme, which
# the marketer's requests carry) is checked by the anonymous test and the role matrix (tests/pipeline/test_api.py).
NOT_EXPRESSIBLE = [positive_data_acceptance, ignored_auth]
SIGNED_IN_ONLY = [missing_required_header]


def _schema() -> schemathesis.schemas.BaseSchema:
    """The schema /api/schema/ serves, generated here (collection runs before the test hosts are allowed)."""
    # A body over the capture limit is refused with 413 (documented), as invalid as a 400.
    config = SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": [400, 401, 403, 404, 406, 413, 415, 422]}}}
    )
    loaded = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True), config=config)
    loaded.app = application  # requests go to Ladder in-process, through its WSGI handler
    return loaded


schema = _schema()

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _test_connection_kept():
    """The WSGI handler closes database connections when a request ends; the test's own transaction lives on one,
    so, as Django's test client does, not during these requests."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _host(settings):
    settings.ALLOWED_HOSTS = ["localhost"]  # the host schemathesis's WSGI client sends


@pytest.fixture
def marketer_session(db):
    """A marketer signed in twice over: the admin session (the reports API) and a personal token (the staff API,
    which reads the token first; with a token, no CSRF check applies)."""
    client = Client()
    marketer = UserFactory.create(role="marketer")
    client.force_login(marketer)
    return {"sessionid": client.cookies["sessionid"].value}, token_make(user_id=marketer.pk, name="schema").secret


@pytest.fixture
def funnel(db):
    """A published funnel that embeds on https://shop.example.com."""
    funnel, steps = ladder_funnel()
    steps["optin"].consent_email_text = "E-mail me."
    steps["optin"].consent_ads_text = "Show me ads."
    steps["optin"].save()
    funnel.allowed_origins = ORIGIN
    funnel.save()
    return funnel_publish(funnel=funnel)


@schema.parametrize()
@hypothesis_settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
def test_no_operation_answers_a_server_error_or_breaks_its_schema(case, funnel, marketer_session):
    cache.clear()  # the capture throttles would turn most generated requests into 429s
    _aim(case, funnel)
    cookies, token = marketer_session
    case.cookies = {**(case.cookies or {}), **cookies}
    if not case.path.startswith("/api/v1/reports"):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    case.call_and_validate(headers={"Origin": ORIGIN}, excluded_checks=[*NOT_EXPRESSIBLE, *SIGNED_IN_ONLY])


def _aim(case, funnel):
    """Point a generated request at the published funnel, past the key check into validation and capture. What the
    schema cannot say (which step slugs a funnel has, the clock the event window is measured on) is filled in for
    requests generated as valid; invalid ones are left as generated."""
    positive = not case.meta or not case.meta.generation.mode.is_negative
    if isinstance(case.body, dict):
        key = case.body.get("key")
        # An invalid request keeps a key that breaks the schema: that may be the fault it was generated with.
        if isinstance(key, str) and (positive or re.fullmatch(KEY_PATTERN, key)):
            case.body["key"] = funnel.public_key
        if positive and "step" in case.body:
            case.body["step"] = "optin"
        for event in case.body.get("events") or [] if positive else []:
            if isinstance(event, dict):
                event.pop("step", None)
                if "occurred_at" in event:
                    event["occurred_at"] = timezone.now().isoformat()
                if event.get("type") == "custom":
                    event["name"] = event.get("name") or "signed_up"
    if positive and case.query:
        today = timezone.localdate()
        for name, day in (("since", today - dt.timedelta(days=30)), ("until", today)):
            if name in case.query:
                case.query[name] = day.isoformat()
    if case.path_parameters and "slug" in case.path_parameters:
        case.path_parameters["slug"] = funnel.slug


@schema.parametrize()
@hypothesis_settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
def test_anonymous_requests_are_refused_or_answered_never_a_server_error(case):
    cache.clear()
    case.call_and_validate(excluded_checks=NOT_EXPRESSIBLE)
