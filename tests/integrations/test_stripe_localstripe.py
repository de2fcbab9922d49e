"""The gateway against localstripe, a stateful Stripe test peer: customers, saved cards, off-session charges,
declines and refunds, through the official library. What localstripe lacks (``setup_future_usage``, the 402
``authentication_required``, idempotency keys) is covered against the project's fake in tests/offers."""

import socket
import subprocess
import sys
import time

import pytest
import stripe

from integrations.stripe.gateway import CardDeclined, StripeGateway

KEY = "sk_test_localstripe"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def localstripe():
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("localstripe did not start (it is in the dev dependencies: make install)")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def gateway(localstripe):
    return StripeGateway(api_key=KEY, api_base=localstripe)


def saved_card(localstripe: str, customer: str, number: str) -> str:
    """A card saved on the customer, as the checkout leaves it (raw numbers are a test-peer convenience)."""
    client = stripe.StripeClient(KEY, base_addresses={"api": localstripe})
    method = client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    client.v1.payment_methods.attach(method.id, params={"customer": customer})
    return str(method.id)


def test_an_off_session_charge_on_the_saved_card_succeeds_and_can_be_refunded_in_part(gateway, localstripe):
    customer = gateway.customer_create(email="ann@example.com", name="Ann", lead_ref="l-1", idempotency_key="c-1")
    card = saved_card(localstripe, customer, "4242424242424242")
    intent = gateway.off_session_charge(
        amount_minor=9700,
        currency="USD",
        customer_id=customer,
        payment_method_id=card,
        metadata={"order": "o-1", "kind": "one_click"},
        idempotency_key="one-click:o-1:1",
    )
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 9700, "USD")
    assert (intent.customer_id, intent.payment_method_id) == (customer, card)
    assert intent.metadata == {"order": "o-1", "kind": "one_click"}
    refund = gateway.refund_create(
        payment_intent_id=intent.id,
        amount_minor=2000,
        currency="USD",
        reason="",
        metadata={"order": "o-1"},
        idempotency_key="refund-request:1",
    )
    assert (refund.amount, refund.status) == (2000, "succeeded")
    assert gateway.intent_retrieve(intent.id).status == "succeeded"


def test_a_declined_saved_card_raises_card_declined_with_the_buyers_message(gateway, localstripe):
    customer = gateway.customer_create(email="bob@example.com", name="Bob", lead_ref="l-2", idempotency_key="c-2")
    card = saved_card(localstripe, customer, "4000000000000341")  # attaches; every charge is declined
    with pytest.raises(CardDeclined) as declined:
        gateway.off_session_charge(
            amount_minor=4700,
            currency="USD",
            customer_id=customer,
            payment_method_id=card,
            metadata={},
            idempotency_key="one-click:o-2:1",
        )
    assert declined.value.code == "card_declined"
    assert declined.value.message


def test_zero_decimal_currencies_are_sent_as_they_are(gateway, localstripe):
    customer = gateway.customer_create(email="yu@example.com", name="Yu", lead_ref="l-3", idempotency_key="c-3")
    card = saved_card(localstripe, customer, "4242424242424242")
    intent = gateway.off_session_charge(
        amount_minor=700, currency="JPY", customer_id=customer, payment_method_id=card, metadata={}, idempotency_key="k"
    )
    assert (intent.amount, intent.currency) == (700, "JPY")
