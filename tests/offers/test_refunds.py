"""Refunds asked for in the admin: sent to Stripe once by a retried task, recorded when Stripe confirms."""

import pytest
from django.test import Client
from django.urls import reverse

from leads.models import Event
from offers.models import Order, Payment, Refund, RefundRequest
from offers.tasks import refund_request_send
from tests.factories import UserFactory
from tests.offers.stripe_steps import deliver_webhooks
from tests.offers.test_checkout import buy_tripwire


@pytest.fixture
def paid(client, shop, stripe_fake, django_capture_on_commit_callbacks):
    funnel, _ = shop
    buy_tripwire(Client(), funnel, stripe_fake, django_capture_on_commit_callbacks, bump="on")
    return Order.objects.get()


@pytest.fixture
def marketer(db):
    client = Client()
    client.force_login(UserFactory.create(role="marketer"))
    return client


def refund(staff, order, capture, **fields):
    payment = order.payments.get()
    with capture(execute=True):
        return staff.post(
            reverse("admin:offers_order_refund", args=[order.pk]),
            {"payment": payment.pk, "reason": "requested_by_customer", **fields},
        )


def test_a_partial_refund_goes_through_stripe_once_and_is_counted_everywhere(
    marketer, paid, stripe_fake, django_capture_on_commit_callbacks
):
    order_page = marketer.get(reverse("admin:offers_order_change", args=[paid.pk])).content.decode()
    assert "Refund…" in order_page
    response = refund(marketer, paid, django_capture_on_commit_callbacks, amount="5.00")
    assert response.status_code == 302
    (sent,) = stripe_fake.refunds.values()
    assert sent["amount"] == 500
    assert sent["reason"] == "requested_by_customer"
    request = RefundRequest.objects.get()
    assert request.status == "succeeded"
    assert request.requested_by.startswith("user")
    paid.refresh_from_db()
    assert (paid.status, paid.refunded_minor, paid.net_minor) == ("partially_refunded", 500, 1900)
    # Stripe's own charge.refunded for the same refund changes nothing more.
    deliver_webhooks(Client(), stripe_fake, django_capture_on_commit_callbacks)
    assert Refund.objects.count() == 1
    # $5 of a $7 + $17 charge matches neither line, so each bears its share; each event names its line's offer.
    lines = {line.offer_id: line for line in paid.lines.all()}
    events = Event.objects.filter(type="refund", order_id=paid.pk)
    assert sorted((e.offer_id, e.properties["amount_minor"]) for e in events) == sorted(
        (offer_id, line.refunded_minor) for offer_id, line in lines.items()
    )
    assert sum(line.refunded_minor for line in lines.values()) == 500
    assert all(line.refunded_minor > 0 for line in lines.values())
    paid.refresh_from_db()
    assert paid.refunded_minor == 500


def test_an_empty_amount_refunds_what_is_left(marketer, paid, stripe_fake, django_capture_on_commit_callbacks):
    refund(marketer, paid, django_capture_on_commit_callbacks, amount="4.00")
    refund(marketer, paid, django_capture_on_commit_callbacks, amount="")
    assert sorted(r["amount"] for r in stripe_fake.refunds.values()) == [400, 2000]
    paid.refresh_from_db()
    assert (paid.status, paid.net_minor) == ("refunded", 0)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("24.01", "At most $24.00 of this payment can still be refunded."),
        ("0", "A refund must be more than zero."),
        ("1.005", "USD takes at most 2 decimal places; 1.005 has more."),
    ],
)
def test_a_bad_amount_is_a_form_error_and_sends_nothing(
    marketer, paid, stripe_fake, django_capture_on_commit_callbacks, amount, message
):
    response = refund(marketer, paid, django_capture_on_commit_callbacks, amount=amount)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["amount"])
    assert stripe_fake.refunds == {}
    assert RefundRequest.objects.count() == 0


def test_stripe_down_is_retried_by_the_task_with_the_same_key(
    marketer, paid, stripe_fake, django_capture_on_commit_callbacks
):
    stripe_fake.fail_next(3, 503, "/v1/refunds")  # more than the library's own two retries
    response = refund(marketer, paid, django_capture_on_commit_callbacks, amount="1.00")
    assert response.status_code == 302  # recorded; the page does not wait for Stripe
    request = RefundRequest.objects.get()
    assert (request.status, request.attempts) == ("pending", 1)
    assert stripe_fake.refunds == {}
    refund_request_send.delay(refund_request_pk=request.pk)  # the task's retry (or the sweep)
    request.refresh_from_db()
    assert (request.status, request.attempts) == ("succeeded", 2)
    keys = {key for method, path, _, key in stripe_fake.requests if path == "/v1/refunds"}
    assert keys == {f"refund-request:{request.pk}"}
    assert len(stripe_fake.refunds) == 1


def test_a_refusal_by_stripe_is_kept_with_its_reason(marketer, paid, stripe_fake, django_capture_on_commit_callbacks):
    intent = stripe_fake.intents[Payment.objects.get().stripe_payment_intent_id]
    intent["status"] = "canceled"  # Stripe will refuse: nothing to refund
    response = refund(marketer, paid, django_capture_on_commit_callbacks, amount="1.00")
    assert response.status_code == 302
    request = RefundRequest.objects.get()
    assert request.status == "failed"
    assert "no successful charge to refund" in request.error
    assert Refund.objects.count() == 0


def test_sales_cannot_refund(paid):
    sales = Client()
    sales.force_login(UserFactory.create(role="sales"))
    assert sales.get(reverse("admin:offers_order_refund", args=[paid.pk])).status_code == 403
    assert "Refund…" not in sales.get(reverse("admin:offers_order_change", args=[paid.pk])).content.decode()
