"""Input that used to answer 500 unauthenticated is a 400 with a message and stores nothing: lone surrogates, JSON
nested a thousand levels, addresses with invisible characters or a domain DNS cannot encode, and signed but
malformed Stripe webhooks. Also: one form of an address per mailbox."""

import json
import time

import pytest
import stripe
from django.core.exceptions import ValidationError
from django.test import Client

from leads.models import Consent, Event, Lead
from leads.normalization import normalize_email
from offers.models import StripeEvent
from tests.funnels.test_api import optin_body

pytestmark = pytest.mark.django_db

SECRET = "whsec_test_secret"


def nothing_stored():
    return (Lead.objects.count(), Consent.objects.count(), Event.objects.count()) == (0, 0, 0)


def raw_post(client, path, text):
    return client.post(path, text, content_type="application/json", HTTP_ORIGIN="https://shop.example.com")


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("ada\ud800@example.com", "Surrogate characters are not allowed"),
        ("ada@exa\u202emple.com", "holds an invisible or control character"),
        ("ada@exa\u2028mple.com", "holds an invisible or control character"),
        ("ad\u200ba@example.com", "holds an invisible or control character"),
        ("ada@" + "a" * 64 + ".com", "is not a valid e-mail address (its domain)"),
    ],
)
def test_addresses_that_used_to_fail_late_are_a_400_naming_the_email(client, live_funnel, email, message):
    funnel, _ = live_funnel
    body = json.dumps(optin_body(funnel, email=email, id="s-1"), ensure_ascii=True)
    response = raw_post(client, "/api/v1/optins", body)
    assert response.status_code == 400, response.content
    assert message in json.dumps(response.json()["email"], ensure_ascii=False)
    assert nothing_stored()


@pytest.mark.parametrize("path", ["/api/v1/optins", "/api/v1/events"])
def test_json_nested_a_thousand_levels_is_a_400(client, live_funnel, path):
    funnel, _ = live_funnel
    deep = "[" * 1000 + "]" * 1000
    body = f'{{"key": "{funnel.public_key}", "id": "x", "email": "a@example.com", "properties": {deep}}}'
    response = raw_post(client, path, body)
    assert response.status_code == 400
    assert "nested more than" in response.json()["detail"]
    assert nothing_stored()


def test_one_mailbox_is_one_form():
    assert normalize_email(" Ada@BÜCHER.example ") == "ada@bücher.example"
    assert normalize_email("ada@xn--bcher-kva.example") == "ada@bücher.example"
    assert normalize_email("ada@bu\u0308cher.example") == "ada@bücher.example"  # NFD typed, NFC stored
    with pytest.raises(ValidationError, match="invisible"):
        normalize_email("ada\u200d@example.com")


def signed(payload: str, *, timestamp=None):
    header = stripe.WebhookSignature.generate_signature_header(payload, SECRET, timestamp=timestamp)
    return Client().post(
        "/webhooks/stripe/", data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("[1, 2, 3]", "an object with an id and a type"),
        ('{"id": "evt_1", "type": "charge.refunded", "created": "yesterday"}', "created is not a Unix time"),
        ('{"id": "evt_1", "type": "charge.refunded", "created": true}', "created is not a Unix time"),
        ('{"id": "evt_1", "type": "x", "data": ' + "[" * 2000 + "]" * 2000 + "}", "not a JSON Stripe event"),
        ('{"id": "evt_1", "type": "x", "data": {"object": {"description": "a\\u0000b"}}}', "holds a NUL"),
        ('{"id": "evt_1", "type": "x", "data": {"object": {"description": "a\\ud800b"}}}', "lone surrogate"),
        ('{"id": "evt_1", "type": "x", "data": "nope"}', "data.object is not an object"),
    ],
)
def test_signed_but_malformed_webhooks_are_a_400(settings, payload, reason):
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    response = signed(payload)
    assert response.status_code == 400, response.content
    assert reason in response.json()["detail"]
    assert not StripeEvent.objects.exists()


def test_a_signature_from_the_future_is_refused(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    payload = json.dumps({"id": "evt_f", "type": "charge.refunded", "created": int(time.time())})
    response = signed(payload, timestamp=int(time.time()) + 3600)
    assert response.status_code == 400
    assert "timestamp in the future" in response.json()["detail"]
    assert signed(payload, timestamp=int(time.time()) + 60).status_code == 200  # clocks a minute apart are fine
