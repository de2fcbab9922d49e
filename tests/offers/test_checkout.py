"""The order form and one-click offers, end to end through the pages, the official library and the loopback
Stripe: what was charged at Stripe and what was recorded here, for every way a payment can go."""

import contextlib
import datetime as dt
import logging
import threading
import uuid

import pytest
from django.utils import timezone

from leads.models import Event
from offers.models import Coupon, Order, OrderLine, Payment
from tests.offers.stripe_steps import browser_confirm, deliver_webhooks

OK_CARD = "4242424242424242"
ALWAYS_3DS = "4000002760003184"


def start(client, funnel, step="order", **fields):
    client.get(f"/f/{funnel.slug}/{step}/")
    data = {"submission_id": str(uuid.uuid4()), "email": "Buyer@Example.com", "first_name": "Ann", **fields}
    return client.post(f"/f/{funnel.slug}/{step}/checkout/", data)


def buy_tripwire(client, funnel, fake, capture, *, card=OK_CARD, **fields):
    answer = start(client, funnel, **fields).json()
    assert browser_confirm(fake, answer["client_secret"], card=card)["status"] == "succeeded"
    deliver_webhooks(client, fake, capture)
    return answer


def charges(fake):
    return [i for i in fake.intents.values() if i["status"] == "succeeded"]


def test_the_order_form_loads_stripe_js_from_the_setting_and_offers_the_bump(client, shop, stripe_fake):
    funnel, _ = shop
    page = client.get(f"/f/{funnel.slug}/order/").content.decode()
    assert f'<script src="{stripe_fake.base_url}/v3/"></script>' in page
    assert 'name="bump"' in page
    assert "$17.00" in page
    assert 'data-key="pk_test_ladderfake"' in page
    assert "sk_test" not in page


def test_bump_and_coupon_are_priced_on_the_server_and_the_card_is_saved_for_later(
    client, shop, stripe_fake, django_capture_on_commit_callbacks
):
    funnel, _ = shop
    Coupon.objects.create(code="TENOFF", kind="percent", percent_off=10)
    response = start(client, funnel, bump="on", coupon="tenoff", amount="1", total="0.01")
    assert response.status_code == 200, response.content
    assert response.json()["total"] == "$21.60"  # (7 + 17) - 10 %
    (created,) = stripe_fake.posts("/v1/payment_intents")
    assert created["amount"] == "2160"
    assert created["currency"] == "usd"
    assert created["setup_future_usage"] == "off_session"
    order = Order.objects.get()
    assert (order.status, order.subtotal_minor, order.discount_minor, order.total_minor) == ("pending", 2400, 240, 2160)
    assert sorted(order.lines.values_list("amount_minor", flat=True)) == [700, 1700]
    assert order.coupon_redemption.discount_minor == 240
    assert Event.objects.filter(type="checkout_started", order_id=order.pk).count() == 1


def test_the_return_shows_processing_until_the_webhook_says_paid(
    client, shop, stripe_fake, django_capture_on_commit_callbacks
):
    funnel, _ = shop
    answer = start(client, funnel, bump="on").json()
    browser_confirm(stripe_fake, answer["client_secret"], card=OK_CARD)
    waiting = client.get(answer["next_url"])
    assert waiting.status_code == 200
    assert b"Processing your payment" in waiting.content
    assert Order.objects.get().status == "pending"
    deliver_webhooks(client, stripe_fake, django_capture_on_commit_callbacks)
    moved_on = client.get(answer["next_url"])
    assert moved_on.status_code == 302
    assert moved_on["Location"] == f"/f/{funnel.slug}/upsell/"
    order = Order.objects.get()
    assert order.status == "paid"
    assert order.stripe_customer_id.startswith("cus_")
    payment = Payment.objects.get()
    assert payment.status == "succeeded"
    assert payment.stripe_payment_method_id.startswith("pm_")
    purchases = Event.objects.filter(type="purchase", order_id=order.pk)
    assert sorted(e.properties["amount_minor"] for e in purchases) == [700, 1700]


def test_a_double_submitted_order_form_opens_one_order_and_one_payment(client, shop, stripe_fake):
    funnel, _ = shop
    client.get(f"/f/{funnel.slug}/order/")
    data = {"submission_id": str(uuid.uuid4()), "email": "buyer@example.com"}
    first = client.post(f"/f/{funnel.slug}/order/checkout/", data).json()
    second = client.post(f"/f/{funnel.slug}/order/checkout/", data).json()
    assert first["client_secret"] == second["client_secret"]
    assert Order.objects.count() == 1
    assert Payment.objects.count() == 1
    assert len(stripe_fake.intents) == 1


def test_a_declined_card_at_checkout_charges_nothing_and_the_buyer_can_retry(
    client, shop, stripe_fake, django_capture_on_commit_callbacks
):
    funnel, _ = shop
    answer = start(client, funnel).json()
    declined = browser_confirm(stripe_fake, answer["client_secret"], card="4000000000009995")
    assert declined["error"]["message"] == "Your card has insufficient funds."
    deliver_webhooks(client, stripe_fake, django_capture_on_commit_callbacks)
    failed = client.get(answer["next_url"])
    assert b"did not go through" in failed.content
    assert b"insufficient funds" in failed.content
    assert browser_confirm(stripe_fake, answer["client_secret"], card=OK_CARD)["status"] == "succeeded"
    deliver_webhooks(client, stripe_fake, django_capture_on_commit_callbacks)
    assert Order.objects.get().status == "paid"
    assert len(charges(stripe_fake)) == 1


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"coupon": "NOPE"}, "coupon", "There is no coupon NOPE."),
        ({"email": ""}, "email", "Enter your e-mail address; the receipt goes there."),
        ({"email": "not-an-address"}, "email", "is not a valid e-mail address"),
        ({"submission_id": "x"}, "submission_id", "This form is out of date; reload the page."),
    ],
)
def test_bad_checkout_input_is_refused_by_field_and_opens_nothing(client, shop, stripe_fake, fields, field, message):
    funnel, _ = shop
    response = start(client, funnel, **fields)
    assert response.status_code == 400
    assert any(message in m for m in response.json()["errors"][field])
    assert Order.objects.count() == 0
    assert stripe_fake.intents == {}


def test_without_payments_configured_the_checkout_refuses_plainly(client, shop):
    funnel, _ = shop
    response = start(client, funnel)
    assert response.status_code == 409
    assert response.json()["errors"]["__all__"] == ["Payments are not configured, so this page cannot take orders."]
    assert Order.objects.count() == 0


def test_stripe_unreachable_charges_nothing_and_says_so(client, shop, stripe_fake, settings):
    funnel, _ = shop
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens on the discard port
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    response = start(client, funnel)
    assert response.status_code == 400
    assert "could not reach the payment provider" in response.json()["errors"]["__all__"][0]
    assert Payment.objects.get().status == "pending"
    assert stripe_fake.intents == {}


# --- one click -------------------------------------------------------------------------------------------


def accept(client, funnel, step="upsell"):
    return client.post(f"/f/{funnel.slug}/{step}/", {"outcome": "accept", "submission_id": str(uuid.uuid4())})


def test_one_click_charges_the_saved_card_once_however_often_it_is_clicked(
    client, shop, stripe_fake, django_capture_on_commit_callbacks
):
    funnel, steps = shop
    buy_tripwire(client, funnel, stripe_fake, django_capture_on_commit_callbacks, bump="on")
    page = client.get(f"/f/{funnel.slug}/upsell/").content.decode()
    assert 'value="accept"' in page  # one click, no card form
    assert "data-card" not in page
    answers = [accept(client, funnel) for _ in range(3)]  # a double click and a reload
    assert [a["Location"] for a in answers] == [f"/f/{funnel.slug}/thanks/"] * 3
    upsell_charges = [i for i in charges(stripe_fake) if i["metadata"].get("kind") == "one_click"]
    assert len(upsell_charges) == 1
    assert upsell_charges[0]["amount"] == 9700
    assert upsell_charges[0]["customer"] == Order.objects.get().stripe_customer_id
    order = Order.objects.get()
    assert (order.subtotal_minor, order.total_minor) == (2400 + 9700, 2400 + 9700)
    assert OrderLine.objects.filter(order=order, offer=steps["upsell"].offer).count() == 1
    deliver_webhooks(client, stripe_fake, django_capture_on_commit_callbacks)  # the webhook changes nothing more
    assert Event.objects.filter(type="purchase", offer_id=steps["upsell"].offer_id).count() == 1
    assert Event.objects.filter(type="upsell_accepted", step_id=steps["upsell"].pk).count() == 1
    assert Order.objects.get().total_minor == 12100


def test_a_declined_one_click_charges_nothing_and_follows_the_decline_route_with_a_message(
    client, shop, stripe_fake, django_capture_on_commit_callbacks
):
    funnel, steps = shop
    buy_tripwire(client, funnel, stripe_fake, django_capture_on_commit_callbacks)
    saved = Payment.objects.get().stripe_payment_method_id
    stripe_fake.payment_methods[saved]["_number"] = "4000000000009995"  # the card is now short of funds
    response = accept(client, funnel)
    assert response["Location"] == f"/f/{funnel.slug}/downsell/?notice=declined"
    page = client.get(response["Location"]).content.decode()
    assert "Your card was declined for that offer" in page
    assert len(charges(stripe_fake)) == 1
    upsell = Payment.objects.get(offer=steps["upsell"].offer)
    assert (upsell.status, upsell.failure_code) == ("failed", "insufficient_funds")
    order = Order.objects.get()
    assert order.total_minor == 700
    assert not order.lines.filter(offer=steps["upsell"].offer).exists()
    assert Event.objects.filter(type="upsell_declined", step_id=steps["upsell"].pk).count() == 1


def test_authentication_required_falls_back_to_confirming_on_the_page(
    client, shop, stripe_fake, django_capture_on_commit_callbacks
):
    funnel, steps = shop
    buy_tripwire(client, funnel, stripe_fake, django_capture_on_commit_callbacks, card=ALWAYS_3DS)
    response = accept(client, funnel)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Your bank asks you to confirm this payment." in page
    payment = Payment.objects.get(offer=steps["upsell"].offer)
    assert payment.status == "requires_action"
    secret = stripe_fake.intents[payment.stripe_payment_intent_id]["client_secret"]
    assert f'data-confirm-secret="{secret}"' in page
    saved = Payment.objects.get(offer=None).stripe_payment_method_id
    assert browser_confirm(stripe_fake, secret, payment_method=saved)["status"] == "succeeded"
    next_url = f"/f/{funnel.slug}/upsell/paid/{Order.objects.get().public_id}/"
    assert b"Processing" in client.get(next_url).content
    deliver_webhooks(client, stripe_fake, django_capture_on_commit_callbacks)
    assert client.get(next_url)["Location"] == f"/f/{funnel.slug}/thanks/"
    assert len(charges(stripe_fake)) == 2
    assert Order.objects.get().total_minor == 700 + 9700


def test_after_the_one_click_window_the_offer_asks_for_the_card_again(
    client, shop, stripe_fake, django_capture_on_commit_callbacks, settings
):
    funnel, steps = shop
    settings.ONE_CLICK_WINDOW_MINUTES = 15
    buy_tripwire(client, funnel, stripe_fake, django_capture_on_commit_callbacks)
    Order.objects.update(paid_at=timezone.now() - dt.timedelta(minutes=16))
    page = client.get(f"/f/{funnel.slug}/upsell/").content.decode()
    assert "data-card" in page
    assert 'value="accept"' not in page
    assert accept(client, funnel).status_code == 409
    assert len(charges(stripe_fake)) == 1
    answer = client.post(f"/f/{funnel.slug}/upsell/checkout/", {"submission_id": str(uuid.uuid4())}).json()
    assert stripe_fake.posts("/v1/payment_intents")[-1]["setup_future_usage"] == "off_session"
    assert browser_confirm(stripe_fake, answer["client_secret"], card=OK_CARD)["status"] == "succeeded"
    deliver_webhooks(client, stripe_fake, django_capture_on_commit_callbacks)
    assert client.get(answer["next_url"])["Location"] == f"/f/{funnel.slug}/thanks/"
    order = Order.objects.get()
    assert order.lines.filter(offer=steps["upsell"].offer).count() == 1
    assert order.total_minor == 700 + 9700


def test_stripe_errors_are_retried_with_the_same_key_and_charge_once(
    client, shop, stripe_fake, django_capture_on_commit_callbacks
):
    funnel, _ = shop
    buy_tripwire(client, funnel, stripe_fake, django_capture_on_commit_callbacks)
    stripe_fake.fail_next(1, 409, "/v1/payment_intents")
    stripe_fake.fail_next(1, 500, "/v1/payment_intents")
    assert accept(client, funnel)["Location"] == f"/f/{funnel.slug}/thanks/"
    keys = [key for method, path, _, key in stripe_fake.requests if path == "/v1/payment_intents"][1:]
    assert len(keys) == 3  # two failures, then the same request once more
    assert len(set(keys)) == 1
    assert len(charges(stripe_fake)) == 2


def test_stripe_down_for_longer_than_the_retries_charges_nothing_until_the_next_click(
    client, shop, stripe_fake, django_capture_on_commit_callbacks
):
    funnel, steps = shop
    buy_tripwire(client, funnel, stripe_fake, django_capture_on_commit_callbacks)
    stripe_fake.fail_next(3, 503, "/v1/payment_intents")
    response = accept(client, funnel)
    assert response.status_code == 400
    assert "nothing was charged" in response.content.decode()
    assert Payment.objects.get(offer=steps["upsell"].offer).status == "pending"
    assert len(charges(stripe_fake)) == 1
    assert accept(client, funnel)["Location"] == f"/f/{funnel.slug}/thanks/"
    assert len(charges(stripe_fake)) == 2


def test_no_secret_or_card_detail_reaches_the_logs(
    client, shop, stripe_fake, django_capture_on_commit_callbacks, caplog
):
    funnel, _ = shop
    caplog.set_level(logging.DEBUG)
    answer = buy_tripwire(client, funnel, stripe_fake, django_capture_on_commit_callbacks, bump="on")
    accept(client, funnel)
    deliver_webhooks(client, stripe_fake, django_capture_on_commit_callbacks)
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert caplog.records, "the purchase should have logged something to check"
    for secret in ("sk_test_ladderfake", "whsec_ladderfake", OK_CARD, answer["client_secret"], "buyer@example.com"):
        assert secret not in logged


def test_a_failure_notice_that_arrives_after_the_buyers_successful_retry_is_not_believed(
    client, shop, stripe_fake, django_capture_on_commit_callbacks
):
    funnel, _ = shop
    answer = start(client, funnel).json()
    browser_confirm(stripe_fake, answer["client_secret"], card="4000000000000002")  # declined first
    browser_confirm(stripe_fake, answer["client_secret"], card=OK_CARD)  # then paid
    failed, succeeded = stripe_fake.events
    assert (failed["type"], succeeded["type"]) == ("payment_intent.payment_failed", "payment_intent.succeeded")
    stripe_fake.events[:] = [failed]  # the failure notice arrives alone, late
    deliver_webhooks(client, stripe_fake, django_capture_on_commit_callbacks)
    assert Payment.objects.get().status == "succeeded"  # Ladder asked Stripe for the intent as it is now
    assert Order.objects.get().status == "paid"
    stripe_fake.events.append(succeeded)
    deliver_webhooks(client, stripe_fake, django_capture_on_commit_callbacks)
    assert Event.objects.filter(type="purchase").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_clicks_on_one_click_charge_once(stripe_fake):
    from django.db import connection
    from django.test import Client

    from funnels.services import funnel_publish
    from tests.factories import ladder_funnel

    funnel, steps = ladder_funnel()
    funnel = funnel_publish(funnel=funnel)
    buyer = Client()
    answer = start(buyer, funnel).json()
    browser_confirm(stripe_fake, answer["client_secret"], card=OK_CARD)
    deliver_webhooks(buyer, stripe_fake, _run_now)
    barrier = threading.Barrier(5)
    locations: list[str] = []

    def click() -> None:
        try:
            barrier.wait(timeout=10)
            locations.append(accept(buyer, funnel)["Location"])
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert locations == [f"/f/{funnel.slug}/thanks/"] * 5
    assert len([i for i in charges(stripe_fake) if i["metadata"].get("kind") == "one_click"]) == 1
    assert OrderLine.objects.filter(offer=steps["upsell"].offer).count() == 1
    assert Payment.objects.filter(offer=steps["upsell"].offer).count() == 1
    assert Order.objects.get().total_minor == 700 + 9700


@contextlib.contextmanager
def _run_now(execute: bool = True):
    """Outside a test transaction on-commit callbacks run by themselves."""
    yield


@pytest.mark.parametrize(
    ("keys", "ids"),
    [
        ({"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_PUBLISHABLE_KEY": ""}, ["offers.E001", "offers.W001"]),
        ({"STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_PUBLISHABLE_KEY": "pk_test_x"}, ["offers.W001", "offers.E002"]),
        ({"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_PUBLISHABLE_KEY": "pk_test_x", "STRIPE_WEBHOOK_SECRET": "w"}, []),
        ({"STRIPE_SECRET_KEY": "", "STRIPE_PUBLISHABLE_KEY": ""}, []),
    ],
)
def test_half_a_stripe_configuration_is_reported_by_the_system_checks(settings, keys, ids):
    from offers.checks import stripe_configuration

    settings.STRIPE_WEBHOOK_SECRET = ""
    for name, value in keys.items():
        setattr(settings, name, value)
    assert [problem.id for problem in stripe_configuration()] == ids
