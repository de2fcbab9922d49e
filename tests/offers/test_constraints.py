import pytest
from django.db import IntegrityError, transaction

from offers.models import Coupon, Offer, Order, OrderLine
from tests.factories import CouponFactory, OfferFactory, OrderFactory

pytestmark = pytest.mark.django_db


def test_offer_price_cannot_be_negative():
    with pytest.raises(IntegrityError), transaction.atomic():
        OfferFactory.create(amount_minor=-1)
    assert Offer.objects.count() == 0


def test_offer_currency_must_look_like_iso_4217():
    with pytest.raises(IntegrityError), transaction.atomic():
        OfferFactory.create(currency="usd")
    assert Offer.objects.count() == 0


def test_lead_magnet_is_free():
    with pytest.raises(IntegrityError), transaction.atomic():
        OfferFactory.create(role="lead_magnet", amount_minor=100)
    assert Offer.objects.count() == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"subtotal_minor": -100, "discount_minor": 0, "total_minor": -100},
        {"subtotal_minor": 700, "discount_minor": 0, "total_minor": 600},  # total is not subtotal - discount
        {"subtotal_minor": 700, "discount_minor": 800, "total_minor": -100},
        {"subtotal_minor": 700, "discount_minor": 0, "total_minor": 700, "refunded_minor": 701},
    ],
)
def test_order_amounts_are_consistent_and_non_negative(fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderFactory.create(**fields)
    assert Order.objects.count() == 0


def test_order_line_amount_non_negative_and_offer_once_per_order():
    order, offer = OrderFactory.create(), OfferFactory.create()
    line = {"order": order, "offer": offer, "role": offer.role, "description": "x", "currency": "USD"}
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderLine.objects.create(**line, amount_minor=-1, created_at=order.created_at)
    OrderLine.objects.create(**line, amount_minor=700, created_at=order.created_at)
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderLine.objects.create(**line, amount_minor=700, created_at=order.created_at)
    assert OrderLine.objects.count() == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "percent", "percent_off": 0},
        {"kind": "percent", "percent_off": 101},
        {"kind": "percent", "percent_off": 10, "amount_off_minor": 100},
        {"kind": "fixed", "percent_off": None, "amount_off_minor": 0, "currency": "USD"},
        {"kind": "fixed", "percent_off": None, "amount_off_minor": 500, "currency": ""},
        {"code": "lower"},
        {"max_redemptions": 1, "redemptions_count": 2},
    ],
)
def test_coupon_constraints(fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        CouponFactory.create(**fields)
    assert Coupon.objects.count() == 0
