"""Whatever a stranger sends to the public endpoints, the answer is never a server error and stores no lead."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads.models import Lead

pytestmark = pytest.mark.django_db

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
FIELDS = ["key", "id", "email", "first_name", "phone", "consents", "step", "visitor_id", "url", "website", "events"]
shaped = st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, json_values))

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(body=st.one_of(json_values, shaped))
def test_capture_api_never_answers_5xx(client, live_funnel, body):
    funnel, _ = live_funnel
    if isinstance(body, dict) and "key" in body and body["key"] == "":
        body["key"] = funnel.public_key  # let some bodies past authentication into validation
    for path in ("/api/v1/optins", "/api/v1/events"):
        response = client.post(path, json.dumps(body), content_type="application/json")
        assert response.status_code < 500, (path, body, response.content[:500])


@FUZZ
@given(body=st.binary(max_size=300))
def test_capture_api_survives_raw_bytes(client, live_funnel, body):
    for path in ("/api/v1/optins", "/api/v1/events"):
        response = client.post(path, body, content_type="application/json")
        assert 400 <= response.status_code < 500
    assert Lead.objects.count() == 0


@FUZZ
@given(
    form=st.dictionaries(
        st.sampled_from(["email", "first_name", "phone", "website", "submission_id", "consent_ads", "outcome"]),
        st.text(max_size=60),
        max_size=7,
    )
)
def test_pages_never_answer_5xx(client, live_funnel, form):
    funnel, _ = live_funnel
    for step in ("optin", "upsell", "order"):
        response = client.post(f"/f/{funnel.slug}/{step}/", form)
        assert response.status_code < 500, (step, form, response.content[:500])
