"""The mail provider's bounces and complaints, through django-anymail's real webhook (Postmark's format here): the
address is kept as undeliverable and no receipt, sign-in link or lead magnet goes to it again."""

from __future__ import annotations

import base64
import json

import pytest
from django.core import mail
from django.test import Client

from fulfilment.emails import emails_send
from fulfilment.models import BuyerEmail
from leads.identity import email_fingerprint
from leads.mail import address_undeliverable
from leads.models import UndeliverableAddress
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

URL = "/webhooks/mail/postmark/tracking/"


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "ladder:hook-password"}


def post(body, *, credentials="ladder:hook-password"):
    auth = base64.b64encode(credentials.encode()).decode()
    return Client().post(URL, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Basic {auth}")


def bounce(email, kind="HardBounce"):
    return {
        "RecordType": "Bounce",
        "Type": kind,
        "ID": 42,
        "Email": email,
        "BouncedAt": "2026-12-01T10:00:00Z",
        "MessageID": "00000000-0000-0000-0000-000000000000",
        "Description": "The server was unable to deliver your message.",
    }


def test_a_hard_bounce_makes_the_address_undeliverable():
    assert post(bounce("Ann@Example.com")).status_code == 200
    assert address_undeliverable("ann@example.com") == "bounced"
    row = UndeliverableAddress.objects.get()
    assert row.provider == "Postmark"
    assert row.email_sha256 == email_fingerprint("ann@example.com")  # only a hash of the address is kept
    assert post(bounce("ann@example.com")).status_code == 200  # told twice: still one row
    assert UndeliverableAddress.objects.count() == 1


def test_a_spam_complaint_too():
    post(
        {
            "RecordType": "SpamComplaint",
            "Type": "SpamComplaint",
            "ID": 7,
            "Email": "bo@example.com",
            "BouncedAt": "2026-12-01T10:00:00Z",
        }
    )
    assert address_undeliverable("bo@example.com") == "complained"


def test_a_webhook_without_the_secret_changes_nothing():
    assert post(bounce("ann@example.com"), credentials="someone:guess").status_code in (400, 401, 403)
    assert not UndeliverableAddress.objects.exists()


def test_no_receipt_goes_to_an_undeliverable_address(client, paid_order, django_capture_on_commit_callbacks, settings):
    from fulfilment.services import fulfilment_catch_up
    from tests.offers.test_stripe_webhooks import deliver, succeeded

    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_secret"
    post(bounce(paid_order.lead.email))
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, succeeded())
    fulfilment_catch_up()
    assert emails_send() == 0
    assert mail.outbox == []
    receipt = BuyerEmail.objects.get()
    assert (receipt.status, receipt.reason) == ("dropped", "The address is undeliverable (bounced).")


def test_the_library_sends_no_sign_in_link_to_it():
    lead = LeadFactory.create(email="cy@example.com")
    post(bounce(lead.email))
    answer = Client().post("/library/", {"email": "cy@example.com"})
    assert answer.status_code == 200  # says the same as for anyone
    assert mail.outbox == []
