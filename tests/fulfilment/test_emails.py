"""Receipts and refund confirmations: exactly one per paid charge (the order's first, each one-click addition) and
per refund, however often the webhook comes; what was bought, in the order's currency, with the download links and
the merchant; a refused address fails for good with the server's code, a busy server is retried; an erased buyer
gets nothing."""

from __future__ import annotations

import smtplib

import pytest
from django.core import mail
from django.utils import timezone

from fulfilment.emails import emails_send
from fulfilment.models import BuyerEmail, Deliverable
from fulfilment.services import fulfilment_catch_up
from leads.services import lead_forget
from offers.models import Payment
from offers.payments import payment_succeeded
from tests.factories import OfferFactory
from tests.offers.test_stripe_webhooks import deliver, event, succeeded

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _shop(settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_secret"
    settings.MERCHANT_NAME = "Acme Courses"
    settings.MERCHANT_ADDRESS = "1 Main Street, Springfield"
    settings.MERCHANT_SUPPORT_EMAIL = "help@acme.example"


def pay(client, capture, *event_ids):
    with capture(execute=True):
        for event_id in event_ids:
            deliver(client, succeeded(event_id))
    fulfilment_catch_up()


def test_one_receipt_per_paid_order_however_often_the_webhook_comes(
    client, paid_order, django_capture_on_commit_callbacks
):
    tripwire = paid_order.lines.order_by("id").first().offer
    Deliverable.objects.create(offer=tripwire, title="The workbook", kind="link", url="https://acme.example/wb")
    pay(client, django_capture_on_commit_callbacks, "evt_1", "evt_1", "evt_2")
    assert emails_send() == 1
    assert emails_send() == 0
    fulfilment_catch_up()
    assert emails_send() == 0
    [receipt] = mail.outbox
    assert receipt.to == [paid_order.lead.email]
    assert receipt.reply_to == ["help@acme.example"]
    assert "Your receipt from Acme Courses" in receipt.subject
    text = receipt.body
    assert "Total paid: $24.00" in text
    assert "$7.00" in text
    assert "$17.00" in text
    assert "The workbook: http" in text
    assert "/library/get/" in text
    assert "1 Main Street, Springfield" in text
    html, kind = receipt.alternatives[0]  # type: ignore[attr-defined]
    assert kind == "text/html"
    assert "$24.00" in str(html)


def test_a_one_click_addition_gets_its_own_receipt_for_what_it_added(
    client, paid_order, django_capture_on_commit_callbacks
):
    pay(client, django_capture_on_commit_callbacks, "evt_1")
    emails_send()
    upsell = OfferFactory.create(role="upsell", amount_minor=9700, name="The course")
    addon = Payment.objects.create(
        order=paid_order,
        offer=upsell,
        amount_minor=9700,
        currency="USD",
        status="processing",
        created_at=timezone.now(),
    )
    payment_succeeded(payment=addon, intent_id="pi_upsell", amount_minor=9700)
    payment_succeeded(payment=addon, intent_id="pi_upsell", amount_minor=9700)  # Stripe's answer, then the webhook
    fulfilment_catch_up()
    assert emails_send() == 1
    second = mail.outbox[-1].body
    assert "The course: $97.00" in second
    assert "Total paid: $97.00" in second
    assert "$7.00" not in second
    assert BuyerEmail.objects.filter(kind="receipt").count() == 2


def test_a_refund_is_confirmed_once(client, paid_order, django_capture_on_commit_callbacks):
    pay(client, django_capture_on_commit_callbacks, "evt_1")
    refund = event(
        "evt_r",
        "charge.refunded",
        {
            "id": "ch_1",
            "payment_intent": "pi_1",
            "amount": 2400,
            "amount_refunded": 700,
            "refunds": {"data": [{"id": "re_1", "amount": 700}]},
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, refund)
        deliver(client, refund)
    fulfilment_catch_up()
    assert emails_send() == 2
    confirmation = mail.outbox[-1]
    assert "Your refund from Acme Courses" in confirmation.subject
    assert "We have refunded $7.00" in confirmation.body


class Refusing:
    """A mail backend whose server answers with ``error``."""

    error: Exception = smtplib.SMTPRecipientsRefused({"x@example.com": (550, b"no such user")})

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise type(self).error


def test_a_refused_address_fails_for_good_and_a_busy_server_is_retried(
    client, paid_order, django_capture_on_commit_callbacks, settings
):
    pay(client, django_capture_on_commit_callbacks, "evt_1")
    settings.EMAIL_BACKEND = f"{__name__}.Refusing"
    Refusing.error = smtplib.SMTPServerDisconnected("gone")
    assert emails_send() == 0
    receipt = BuyerEmail.objects.get()
    assert (receipt.status, receipt.attempts) == ("pending", 1)
    assert emails_send(now=receipt.next_attempt_at) == 0
    Refusing.error = smtplib.SMTPRecipientsRefused({paid_order.lead.email: (550, b"no such user")})
    receipt.refresh_from_db()
    assert emails_send(now=receipt.next_attempt_at) == 0
    receipt.refresh_from_db()
    assert receipt.status == "failed"
    assert receipt.reason == "the mail server refused the address (SMTP 550)"
    assert paid_order.lead.email not in receipt.reason


def test_an_erased_buyer_gets_nothing(client, paid_order, django_capture_on_commit_callbacks):
    pay(client, django_capture_on_commit_callbacks, "evt_1")
    lead_forget(lead=paid_order.lead)
    assert emails_send() == 0
    assert mail.outbox == []
    assert BuyerEmail.objects.get().status == "dropped"


def test_a_funnels_receipt_style_words_the_receipt_and_the_preview_shows_it(
    client, paid_order, django_capture_on_commit_callbacks
):
    from django.test import Client

    from fulfilment.models import ReceiptStyle
    from funnels.models import Funnel
    from tests.factories import FunnelFactory, UserFactory

    funnel = FunnelFactory.create()
    type(paid_order).objects.filter(pk=paid_order.pk).update(funnel_id=funnel.pk)
    ReceiptStyle.objects.create(subject="Default {order}", intro="Default intro")
    style = ReceiptStyle.objects.create(
        funnel=Funnel.objects.get(pk=funnel.pk),
        subject="Welcome aboard, {first_name}! ({order})",
        intro="Hi {first_name}, {product} is yours. {first_name.__class__}",
        closing="See you inside.",
        accent="#ff6600",
    )
    pay(client, django_capture_on_commit_callbacks, "evt_1")
    emails_send()
    receipt = mail.outbox[-1]
    name = paid_order.lead.first_name or "there"
    assert receipt.subject == f"Welcome aboard, {name}! ({paid_order.pk})"
    assert receipt.body.startswith(f"Hi {name}, ")
    assert "{first_name.__class__}" in receipt.body  # only the named placeholders are filled; nothing is evaluated
    assert "See you inside." in receipt.body
    assert "#ff6600" in str(receipt.alternatives[0][0])  # type: ignore[attr-defined]
    marketer = Client()
    marketer.force_login(UserFactory.create(role="marketer"))
    preview = marketer.get(f"/admin/fulfilment/receiptstyle/{style.pk}/preview/")
    assert preview.status_code == 200
    assert f"Welcome aboard, {name}!" in preview.content.decode()
    second_default = marketer.post(
        "/admin/fulfilment/receiptstyle/add/", {"subject": "x", "intro": "y", "accent": "#000000"}
    )
    assert "There is a default style already" in second_default.content.decode()


def test_the_providers_delivery_and_opening_reports_reach_the_receipt(
    client, paid_order, django_capture_on_commit_callbacks, settings
):
    from tests.leads.test_undeliverable import post

    settings.ANYMAIL = {"WEBHOOK_SECRET": "ladder:hook-password"}
    pay(client, django_capture_on_commit_callbacks, "evt_1")
    emails_send()
    receipt = BuyerEmail.objects.get()
    assert mail.outbox[-1].metadata == {"buyer_email": str(receipt.pk)}  # type: ignore[union-attr]
    tag = {"Metadata": {"buyer_email": str(receipt.pk)}, "MessageID": "m-1", "Recipient": paid_order.lead.email}
    assert post({"RecordType": "Delivery", "DeliveredAt": "2026-12-02T10:00:00Z", **tag}).status_code == 200
    assert post({"RecordType": "Open", "ReceivedAt": "2026-12-02T10:05:00Z", **tag}).status_code == 200
    assert post({"RecordType": "Open", "ReceivedAt": "2026-12-02T11:00:00Z", **tag}).status_code == 200
    receipt.refresh_from_db()
    assert receipt.delivered_at is not None
    assert receipt.opened_at is not None
    assert receipt.opened_at.isoformat() == "2026-12-02T10:05:00+00:00"  # the first opening
