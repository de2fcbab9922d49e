"""A buyer pays in a real browser: the tripwire with its bump on the order form, then one-click offers.

Stripe is the project's loopback fake (tests/fakes/stripe_api.py) with its Stripe.js stand-in, delivering
signed webhooks to the live server, as Stripe does."""

import re

import pytest
from playwright.sync_api import expect

from funnels.services import funnel_publish
from leads.models import Event
from offers.models import Order, Payment
from tests.factories import ladder_funnel
from tests.fakes.stripe_api import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, fake_stripe

# PostgreSQL: the page polls while the webhook writes, and SQLite's shared test database locks whole tables.
pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stripe_live(live_server, settings):
    with fake_stripe() as fake:
        fake.webhook_url = f"{live_server.url}/webhooks/stripe/"
        settings.STRIPE_SECRET_KEY = SECRET_KEY
        settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
        settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
        settings.STRIPE_API_BASE = fake.base_url
        settings.STRIPE_JS_URL = f"{fake.base_url}/v3/"
        yield fake


@pytest.fixture
def shop():
    funnel, steps = ladder_funnel()
    return funnel_publish(funnel=funnel), steps


def opt_in(page, live_server, funnel):
    page.goto(f"{live_server.url}/f/{funnel.slug}/")
    page.fill("input[name=email]", "Ada@Example.com")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/order/$"))


def test_buyer_takes_the_bump_and_the_one_click_upsell(live_server, page, stripe_live, shop):
    funnel, steps = shop
    opt_in(page, live_server, funnel)
    page.check("input[name=bump]")
    page.fill("input[name=card-number]", "4242 4242 4242 4242")
    page.click("[data-checkout] button[type=submit]")
    page.wait_for_url(re.compile(r"/upsell/$"), timeout=20_000)  # via "processing", once the webhook is in

    page.click("button[value=accept]")
    page.wait_for_url(re.compile(r"/thanks/$"))

    order = Order.objects.get()
    assert order.status == "paid"
    assert (order.subtotal_minor, order.total_minor) == (700 + 1700 + 9700, 700 + 1700 + 9700)
    charged = sorted(i["amount"] for i in stripe_live.intents.values() if i["status"] == "succeeded")
    assert charged == [2400, 9700]
    purchases = Event.objects.filter(type="purchase", order_id=order.pk)
    assert sorted(e.properties["amount_minor"] for e in purchases) == [700, 1700, 9700]
    assert Event.objects.filter(type="upsell_accepted", step_id=steps["upsell"].pk).count() == 1


def test_three_d_secure_at_checkout_and_again_for_the_upsell(live_server, page, stripe_live, shop):
    funnel, steps = shop
    opt_in(page, live_server, funnel)
    page.fill("input[name=card-number]", "4000002760003184")  # the bank asks every time
    page.click("[data-checkout] button[type=submit]")
    page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url(re.compile(r"/upsell/$"), timeout=20_000)

    page.click("button[value=accept]")  # off-session: Stripe answers authentication_required
    expect(page.get_by_text("Your bank asks you to confirm this payment.")).to_be_visible()
    page.get_by_role("button", name="Confirm the payment").click()
    page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url(re.compile(r"/thanks/$"), timeout=20_000)

    order = Order.objects.get()
    assert order.total_minor == 700 + 9700
    assert Payment.objects.get(offer=steps["upsell"].offer).status == "succeeded"
    charged = sorted(i["amount"] for i in stripe_live.intents.values() if i["status"] == "succeeded")
    assert charged == [700, 9700]


def test_a_declined_card_shows_the_banks_message_and_charges_nothing(live_server, page, stripe_live, shop):
    funnel, _ = shop
    opt_in(page, live_server, funnel)
    page.fill("input[name=card-number]", "4000000000009995")
    page.click("[data-checkout] button[type=submit]")
    expect(page.locator("[data-errors]")).to_have_text("Your card has insufficient funds.")
    assert page.url.endswith("/order/")
    assert [i for i in stripe_live.intents.values() if i["status"] == "succeeded"] == []
    assert Order.objects.get().status == "pending"
