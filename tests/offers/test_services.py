import threading

import pytest
from django.db import connection

from common.errors import ApplicationError
from offers.books import payment_record_for_intent, refund_record
from offers.coupons import coupon_redeem
from offers.models import Coupon, CouponRedemption, Order
from offers.orders import order_create
from offers.payments import payment_succeeded
from tests.factories import CouponFactory, LeadFactory, OfferFactory, OrderFactory, days_ago


@pytest.mark.django_db
def test_order_total_is_computed_server_side_with_the_coupon():
    tripwire = OfferFactory.create(amount_minor=700)
    bump = OfferFactory.create(role="order_bump", amount_minor=1700)
    coupon = CouponFactory.create(percent_off=20, max_redemptions=10)

    order = order_create(lead=LeadFactory.create(), offers=[tripwire, bump], coupon=coupon)

    assert (order.subtotal_minor, order.discount_minor, order.total_minor) == (2400, 480, 1920)
    assert [line.amount_minor for line in order.lines.all()] == [700, 1700]
    coupon.refresh_from_db()
    assert coupon.redemptions_count == 1
    assert CouponRedemption.objects.get().discount_minor == 480


@pytest.mark.django_db
def test_fixed_coupon_never_takes_more_than_the_subtotal():
    coupon = CouponFactory.create(kind="fixed", percent_off=None, amount_off_minor=5000, currency="USD")
    order = order_create(lead=LeadFactory.create(), offers=[OfferFactory.create(amount_minor=700)], coupon=coupon)
    assert (order.discount_minor, order.total_minor) == (700, 0)


@pytest.mark.django_db
def test_order_refuses_mixed_currencies_and_creates_nothing():
    with pytest.raises(ApplicationError, match="mix EUR, USD"):
        order_create(
            lead=LeadFactory.create(), offers=[OfferFactory.create(currency="USD"), OfferFactory.create(currency="EUR")]
        )
    assert Order.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"valid_until": days_ago(1)}, "has expired"),
        ({"valid_from": days_ago(-1)}, "not valid yet"),
        ({"is_active": False}, "no longer active"),
    ],
)
def test_unusable_coupon_is_refused_and_nothing_is_created(fields, message):
    coupon = CouponFactory.create(**fields)
    with pytest.raises(ApplicationError, match=message):
        order_create(lead=LeadFactory.create(), offers=[OfferFactory.create()], coupon=coupon)
    assert Order.objects.count() == 0
    coupon.refresh_from_db()
    assert coupon.redemptions_count == 0


@pytest.mark.django_db
def test_coupon_for_other_offers_is_refused():
    coupon = CouponFactory.create()
    coupon.offers.add(OfferFactory.create())
    with pytest.raises(ApplicationError, match="does not apply"):
        order_create(lead=LeadFactory.create(), offers=[OfferFactory.create()], coupon=coupon)


@pytest.mark.django_db
def test_used_up_coupon_is_refused_and_the_order_rolls_back():
    coupon = CouponFactory.create(max_redemptions=1)
    order_create(lead=LeadFactory.create(), offers=[OfferFactory.create()], coupon=coupon)
    with pytest.raises(ApplicationError, match="has been used up"):
        order_create(lead=LeadFactory.create(), offers=[OfferFactory.create()], coupon=coupon)
    assert Order.objects.count() == 1
    coupon.refresh_from_db()
    assert coupon.redemptions_count == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_redemptions_never_exceed_the_maximum():
    """Eight threads, each with its own PostgreSQL connection, race for the last two redemptions."""
    coupon = CouponFactory.create(max_redemptions=2)
    orders = [OrderFactory.create() for _ in range(8)]
    barrier = threading.Barrier(len(orders))
    outcomes: list[str] = []
    lock = threading.Lock()

    def redeem(order: Order) -> None:
        try:
            barrier.wait(timeout=10)
            coupon_redeem(coupon=coupon, order=order)
            result = "ok"
        except ApplicationError:
            result = "used up"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=redeem, args=(order,)) for order in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["ok"] * 2 + ["used up"] * 6
    coupon.refresh_from_db()
    assert coupon.redemptions_count == 2
    assert CouponRedemption.objects.count() == 2
    assert Coupon.objects.filter(pk=coupon.pk, redemptions_count__lte=2).exists()


@pytest.mark.django_db
def test_refunds_are_recorded_once_and_move_the_order_status():
    order = OrderFactory.create(subtotal_minor=2400, total_minor=2400)
    payment = payment_record_for_intent(order=order, payment_intent_id="pi_1", amount_minor=2400)
    payment_succeeded(payment=payment, intent_id="pi_1", amount_minor=2400)  # the one writer of "paid"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID

    refund_record(payment=payment, stripe_refund_id="re_1", amount_minor=400)
    refund_record(payment=payment, stripe_refund_id="re_1", amount_minor=400)  # a redelivered webhook
    order.refresh_from_db()
    assert (order.refunded_minor, order.status, order.net_minor) == (400, "partially_refunded", 2000)

    with pytest.raises(ApplicationError, match=r"At most \$20.00"):
        refund_record(payment=payment, stripe_refund_id="re_2", amount_minor=2001)
    refund_record(payment=payment, stripe_refund_id="re_3", amount_minor=2000)
    order.refresh_from_db()
    assert (order.refunded_minor, order.status, order.net_minor) == (2400, "refunded", 0)
    assert payment.refunds.count() == 2
