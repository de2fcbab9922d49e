"""What the reports stand on: a purchase is credited to the page, split-test variant and visitor that led to it,
and a coupon for one offer discounts that offer's line only, in the order, its events and the conversions sent."""

from audiences.tasks import conversions_dispatch
from funnels.models import Variant
from leads.models import Event
from offers.models import Coupon, Order
from tests.conftest import CONVERSIONS_TOKEN
from tests.factories import ConsentFactory, conversion_destination_make
from tests.offers.stripe_steps import browser_confirm, deliver_webhooks
from tests.offers.test_checkout import ALWAYS_3DS, OK_CARD, accept, buy_tripwire, start

PIXEL = "5566778899"


def split(step, *names):
    return [Variant.objects.create(step=step, name=name, weight=1, headline=f"Headline {name}") for name in names]


def viewed(client, funnel, step):
    """The visitor, step and variant of the visitor's page view of ``step``."""
    client.get(f"/f/{funnel.slug}/{step.slug}/")
    view = Event.objects.filter(type="page_view", step_id=step.pk).latest("id")
    assert view.visitor_id is not None
    assert view.variant_id is not None
    return view.visitor_id, step.pk, view.variant_id


def credited(event):
    return event.visitor_id, event.step_id, event.variant_id


def test_an_order_form_purchase_carries_the_step_variant_and_visitor_of_its_page(
    client, shop, stripe_fake, django_capture_on_commit_callbacks
):
    funnel, steps = shop
    split(steps["order"], "A", "B")
    page = viewed(client, funnel, steps["order"])
    buy_tripwire(client, funnel, stripe_fake, django_capture_on_commit_callbacks, bump="on")
    purchases = list(Event.objects.filter(type="purchase"))
    assert len(purchases) == 2
    assert {credited(e) for e in purchases} == {page}


def test_a_one_click_purchase_and_its_accept_carry_the_offer_pages_variant(
    client, shop, stripe_fake, django_capture_on_commit_callbacks
):
    funnel, steps = shop
    split(steps["upsell"], "Short", "Long")
    buy_tripwire(client, funnel, stripe_fake, django_capture_on_commit_callbacks)
    page = viewed(client, funnel, steps["upsell"])
    accept(client, funnel)
    deliver_webhooks(client, stripe_fake, django_capture_on_commit_callbacks)
    upsell = Event.objects.get(type="purchase", offer_id=steps["upsell"].offer_id)
    accepted = Event.objects.get(type="upsell_accepted")
    assert credited(upsell) == credited(accepted) == page


def test_after_3d_secure_the_processing_page_credits_the_variant_too(
    client, shop, stripe_fake, django_capture_on_commit_callbacks
):
    funnel, steps = shop
    split(steps["upsell"], "Short", "Long")
    buy_tripwire(client, funnel, stripe_fake, django_capture_on_commit_callbacks, card=ALWAYS_3DS)
    page = viewed(client, funnel, steps["upsell"])
    accept(client, funnel)
    order = Order.objects.get()
    payment = order.payments.get(offer=steps["upsell"].offer)
    secret = stripe_fake.intents[payment.stripe_payment_intent_id]["client_secret"]
    saved = order.payments.get(offer=None).stripe_payment_method_id
    assert browser_confirm(stripe_fake, secret, payment_method=saved)["status"] == "succeeded"
    deliver_webhooks(client, stripe_fake, django_capture_on_commit_callbacks)
    client.get(f"/f/{funnel.slug}/upsell/paid/{order.public_id}/")  # the "processing" page moves on
    upsell = Event.objects.get(type="purchase", offer_id=steps["upsell"].offer_id)
    accepted = Event.objects.get(type="upsell_accepted")
    assert credited(upsell) == credited(accepted) == page


def test_a_coupon_for_one_offer_discounts_only_its_line_and_the_conversions_carry_what_was_charged(
    client, shop, stripe_fake, django_capture_on_commit_callbacks, conversions_graph
):
    funnel, steps = shop
    conversion_destination_make(name="Pixel", platform="meta", remote_id=PIXEL, credentials=CONVERSIONS_TOKEN)
    tripwire, bump = steps["order"].offer, steps["order"].bump_offer
    coupon = Coupon.objects.create(code="HALFTRIP", kind="percent", percent_off=50)
    coupon.offers.add(tripwire)
    answer = start(client, funnel, bump="on", coupon="halftrip").json()
    assert answer["total"] == "$20.50"  # $7 tripwire at half price, the $17 bump untouched
    order = Order.objects.get()
    ConsentFactory.create(lead=order.lead)
    assert browser_confirm(stripe_fake, answer["client_secret"], card=OK_CARD)["status"] == "succeeded"
    deliver_webhooks(client, stripe_fake, django_capture_on_commit_callbacks)
    order.refresh_from_db()
    assert (order.subtotal_minor, order.discount_minor, order.total_minor) == (2400, 350, 2050)
    assert dict(order.lines.values_list("offer_id", "discount_minor")) == {tripwire.pk: 350, bump.pk: 0}
    purchases = {e.offer_id: e for e in Event.objects.filter(type="purchase")}
    assert {o: e.properties["amount_minor"] for o, e in purchases.items()} == {tripwire.pk: 350, bump.pk: 1700}
    assert sum(e.properties["amount_minor"] for e in purchases.values()) == order.total_minor

    assert conversions_dispatch() == 3  # the checkout's opt-in and two purchases
    sent = {key: event for (name, key), event in conversions_graph.events[PIXEL].items() if name == "Purchase"}
    assert {key: event["custom_data"]["value"] for key, event in sent.items()} == {
        purchases[tripwire.pk].idempotency_key: 3.5,
        purchases[bump.pk].idempotency_key: 17.0,
    }


def test_a_fixed_coupon_for_every_offer_is_spread_over_the_lines_in_proportion(db):
    from offers.orders import order_create
    from tests.factories import LeadFactory, OfferFactory

    offers = [OfferFactory.create(amount_minor=700), OfferFactory.create(role="order_bump", amount_minor=1700)]
    coupon = Coupon.objects.create(code="FIVE", kind="fixed", amount_off_minor=500, currency="USD")
    order = order_create(lead=LeadFactory.create(), offers=offers, coupon=coupon)
    discounts = list(order.lines.order_by("id").values_list("discount_minor", flat=True))
    assert discounts == [146, 354]  # 500 × 7/24 = 145.8 and 500 × 17/24 = 354.2, adding up to exactly 500
    assert order.total_minor == 1900
