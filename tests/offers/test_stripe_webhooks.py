import json
import logging
import threading
import time

import pytest
import stripe
from django.db import connection
from django.test import Client

from leads.models import Event
from offers.models import Dispute, Order, OrderLine, Payment, Refund, StripeEvent
from tests.factories import LeadFactory, OfferFactory, OrderFactory

SECRET = "whsec_test_secret"
URL = "/webhooks/stripe/"


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET


def deliver(client, event, *, secret=SECRET, timestamp=None, body=None):
    payload = body if body is not None else json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)
    return client.post(URL, data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def event(event_id, kind, obj):
    return {
        "id": event_id,
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": obj},
    }


@pytest.fixture
def paid_order(db):
    """A tripwire with its bump, charged by pi_1 (not yet confirmed by Stripe)."""
    tripwire, bump = OfferFactory.create(amount_minor=700), OfferFactory.create(role="order_bump", amount_minor=1700)
    order = OrderFactory.create(lead=LeadFactory.create(), subtotal_minor=2400, total_minor=2400, funnel_id=7)
    payment = Payment.objects.create(
        order=order,
        stripe_payment_intent_id="pi_1",
        amount_minor=2400,
        currency="USD",
        status="requires_payment_method",
        created_at=order.created_at,
    )
    for offer in (tripwire, bump):
        OrderLine.objects.create(
            order=order,
            offer=offer,
            payment=payment,
            role=offer.role,
            description=offer.name,
            amount_minor=offer.amount_minor,
            currency="USD",
            created_at=order.created_at,
        )
    return order


def succeeded(event_id="evt_ok"):
    return event(
        event_id,
        "payment_intent.succeeded",
        {"id": "pi_1", "object": "payment_intent", "amount": 2400, "amount_received": 2400, "currency": "usd"},
    )


def test_succeeded_marks_the_order_paid_and_records_one_purchase_per_line(
    client, paid_order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(client, succeeded())
    assert (response.status_code, response.json()) == (200, {"received": True, "duplicate": False})
    paid_order.refresh_from_db()
    assert paid_order.status == Order.Status.PAID
    assert Payment.objects.get().status == Payment.Status.SUCCEEDED
    purchases = Event.objects.filter(type="purchase").order_by("properties__amount_minor")
    assert [(e.lead_id, e.order_id, e.funnel_id, e.properties["amount_minor"]) for e in purchases] == [
        (paid_order.lead_id, paid_order.pk, 7, 700),
        (paid_order.lead_id, paid_order.pk, 7, 1700),
    ]
    assert StripeEvent.objects.get().status == StripeEvent.Status.PROCESSED


def test_the_same_event_ten_times_has_one_effect(client, paid_order, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answers = [deliver(client, succeeded()).json()["duplicate"] for _ in range(10)]
    assert answers == [False] + [True] * 9
    assert StripeEvent.objects.count() == 1
    assert Event.objects.filter(type="purchase").count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_event_have_one_effect(paid_order):
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def post() -> None:
        try:
            barrier.wait(timeout=10)
            statuses.append(deliver(Client(), succeeded()).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * 10
    assert StripeEvent.objects.count() == 1
    assert Event.objects.filter(type="purchase").count() == 2
    assert Payment.objects.get().status == Payment.Status.SUCCEEDED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"secret": "whsec_wrong"}, "The Stripe signature does not verify: bad signature."),
        (
            {"timestamp": int(time.time()) - 3600},
            "The Stripe signature does not verify: timestamp outside the tolerance zone.",
        ),
        ({"body": "not json"}, "The body is not a JSON Stripe event."),
    ],
)
def test_unverifiable_deliveries_are_400_and_store_nothing(client, change, detail, caplog):
    with caplog.at_level(logging.WARNING):
        response = deliver(client, succeeded(), **change)
    assert (response.status_code, response.json()) == (400, {"detail": detail})
    assert StripeEvent.objects.count() == 0
    assert SECRET not in caplog.text
    assert "pi_1" not in caplog.text


@pytest.mark.django_db
def test_missing_signature_oversize_body_and_missing_configuration(client, settings):
    payload = json.dumps(succeeded())
    missing = client.post(URL, data=payload, content_type="application/json")
    assert missing.json() == {"detail": "The Stripe-Signature header is missing."}
    huge = deliver(client, None, body=json.dumps({"id": "evt", "type": "x", "pad": "x" * 300_000}))
    assert huge.status_code == 400
    assert "at most 262144 bytes" in huge.json()["detail"]
    settings.STRIPE_WEBHOOK_SECRET = ""
    unconfigured = deliver(client, succeeded())
    assert unconfigured.json() == {"detail": "Stripe webhooks are not configured: set STRIPE_WEBHOOK_SECRET."}
    assert client.get(URL).status_code == 405
    assert StripeEvent.objects.count() == 0


def test_payment_failed_marks_the_charge_failed(client, paid_order, django_capture_on_commit_callbacks):
    failure = event(
        "evt_fail",
        "payment_intent.payment_failed",
        {"id": "pi_1", "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds"}},
    )
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, failure)
    payment = Payment.objects.get()
    assert (payment.status, payment.failure_code) == ("failed", "insufficient_funds")
    paid_order.refresh_from_db()
    assert paid_order.status == Order.Status.PENDING
    assert not Event.objects.exists()


def test_refunds_partial_then_full_each_recorded_once(client, paid_order, django_capture_on_commit_callbacks):
    def refunded(event_id, refunds):
        return event(
            event_id,
            "charge.refunded",
            {
                "id": "ch_1",
                "payment_intent": "pi_1",
                "amount": 2400,
                "amount_refunded": sum(r["amount"] for r in refunds),
                "refunds": {"data": refunds},
            },
        )

    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, succeeded())
        deliver(client, refunded("evt_r1", [{"id": "re_1", "amount": 700, "reason": "requested_by_customer"}]))
        deliver(client, refunded("evt_r2", [{"id": "re_1", "amount": 700}, {"id": "re_2", "amount": 1700}]))
    paid_order.refresh_from_db()
    assert (paid_order.refunded_minor, paid_order.status, paid_order.net_minor) == (2400, "refunded", 0)
    assert sorted(Refund.objects.values_list("stripe_refund_id", "amount_minor")) == [("re_1", 700), ("re_2", 1700)]
    # Each refund equals one line's price, so it is that line's: the tripwire's, then the bump's.
    lines = dict(paid_order.lines.values_list("amount_minor", "offer_id"))
    assert sorted(Event.objects.filter(type="refund").values_list("offer_id", "properties__amount_minor")) == sorted(
        [(lines[700], 700), (lines[1700], 1700)]
    )
    assert sorted(paid_order.lines.values_list("amount_minor", "refunded_minor")) == [(700, 700), (1700, 1700)]


def test_refund_without_a_refund_list_records_the_difference(client, paid_order, django_capture_on_commit_callbacks):
    charge = {"id": "ch_1", "payment_intent": "pi_1", "amount": 2400, "amount_refunded": 500}
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, event("evt_r", "charge.refunded", charge))
    assert list(Refund.objects.values_list("stripe_refund_id", "amount_minor")) == [("ch_1:500", 500)]


def test_out_of_order_refund_before_success_still_ends_right(client, paid_order, django_capture_on_commit_callbacks):
    refunded = event(
        "evt_r",
        "charge.refunded",
        {
            "id": "ch_1",
            "payment_intent": "pi_1",
            "amount": 2400,
            "amount_refunded": 2400,
            "refunds": {"data": [{"id": "re_9", "amount": 2400}]},
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, refunded)
        deliver(client, succeeded())
    paid_order.refresh_from_db()
    assert (paid_order.status, paid_order.refunded_minor) == ("refunded", 2400)
    assert Event.objects.filter(type="purchase").count() == 2
    assert sorted(Event.objects.filter(type="refund").values_list("properties__amount_minor", flat=True)) == [700, 1700]


def dispute_event(event_id, kind, status="needs_response", amount=2400):
    return event(
        event_id,
        kind,
        {
            "id": "dp_1",
            "payment_intent": "pi_1",
            "amount": amount,
            "currency": "usd",
            "reason": "fraudulent",
            "status": status,
        },
    )


def test_an_open_dispute_is_recorded_once_and_takes_no_money(client, paid_order, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, succeeded())
        deliver(client, dispute_event("evt_d", "charge.dispute.created"))
        deliver(client, dispute_event("evt_d2", "charge.dispute.created"))  # Stripe may say it twice
    dispute = Dispute.objects.get()
    assert (dispute.status, dispute.amount_minor, dispute.reason) == ("open", 2400, "fraudulent")
    opened = Event.objects.get(type="custom", name="dispute_opened")
    assert (opened.lead_id, opened.order_id) == (paid_order.lead_id, paid_order.pk)
    assert not Event.objects.filter(type="chargeback").exists()
    paid_order.refresh_from_db()
    assert (paid_order.chargeback_minor, paid_order.net_minor) == (0, 2400)


def test_a_lost_dispute_takes_the_money_out_of_the_order_line_by_line(
    client, paid_order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, succeeded())
        deliver(client, dispute_event("evt_d", "charge.dispute.created"))
        deliver(client, dispute_event("evt_c", "charge.dispute.closed", status="lost"))
        deliver(client, dispute_event("evt_c2", "charge.dispute.closed", status="lost"))
    paid_order.refresh_from_db()
    assert (paid_order.chargeback_minor, paid_order.net_minor) == (2400, 0)
    lines = dict(paid_order.lines.values_list("offer_id", "chargeback_minor"))
    chargebacks = Event.objects.filter(type="chargeback")
    assert {e.offer_id: e.properties["amount_minor"] for e in chargebacks} == lines
    assert sorted(lines.values()) == [700, 1700]
    assert all(e.order_id == paid_order.pk and e.properties["currency"] == "USD" for e in chargebacks)


@pytest.mark.parametrize("status", ["won", "warning_closed"])
def test_a_won_dispute_changes_no_money(client, paid_order, django_capture_on_commit_callbacks, status):
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, succeeded())
        deliver(client, dispute_event("evt_c", "charge.dispute.closed", status=status))
    assert Dispute.objects.get().status == "won"
    paid_order.refresh_from_db()
    assert (paid_order.chargeback_minor, paid_order.net_minor) == (0, 2400)
    assert not Event.objects.filter(type="chargeback").exists()


@pytest.mark.django_db
def test_unknown_types_are_acknowledged_and_ignored(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(client, event("evt_x", "customer.created", {"id": "cus_1"}))
    assert response.status_code == 200
    assert StripeEvent.objects.get().status == StripeEvent.Status.IGNORED


@pytest.mark.django_db
def test_an_event_for_an_unknown_order_is_kept_as_failed_with_the_reason(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(client, succeeded())
    assert response.status_code == 200  # acknowledged: Stripe retrying would not help
    stored = StripeEvent.objects.get()
    assert (stored.status, stored.error) == ("failed", "No order is known for PaymentIntent pi_1.")
    assert not Payment.objects.exists()
