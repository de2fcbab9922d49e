import pytest
from django.urls import reverse

from offers.models import Coupon, Offer
from tests.admin_forms import errors_of, form_data
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def add_offer(client, **fields):
    url = reverse("admin:offers_offer_add")
    data = form_data(client, url)
    data.update({"product": ProductFactory.create().pk, "name": "Swipe file", "slug": "swipe", "role": "tripwire"})
    data.update(fields)
    return client.post(url, data)


def test_price_is_typed_in_major_units_and_stored_in_minor_units(admin_client):
    assert add_offer(admin_client, price="7.00", currency="USD").status_code == 302
    assert add_offer(admin_client, slug="yen", price="700", currency="JPY").status_code == 302
    assert sorted(Offer.objects.values_list("currency", "amount_minor")) == [("JPY", 700), ("USD", 700)]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"price": "-1", "currency": "USD"}, "price", "Price cannot be negative."),
        ({"price": "7", "currency": "XYZ"}, "currency", "Select a valid choice. XYZ is not one of the available"),
        ({"price": "7.5", "currency": "JPY"}, "price", "JPY takes whole amounts; 7.5 has more."),
        ({"price": "7.005", "currency": "USD"}, "price", "USD takes at most 2 decimal places; 7.005 has more."),
        ({"price": "5", "currency": "USD", "role": "lead_magnet"}, "price", "A lead magnet is free"),
        ({"price": "", "currency": "USD"}, "price", "This field is required."),
    ],
)
def test_bad_offer_input_is_a_field_error_and_saves_nothing(admin_client, fields, field, message):
    response = add_offer(admin_client, **fields)
    assert response.status_code == 200
    assert message in " ".join(errors_of(response)[field])
    assert Offer.objects.count() == 0


def add_coupon(client, **fields):
    url = reverse("admin:offers_coupon_add")
    data = form_data(client, url)
    data.update(fields)
    return client.post(url, data)


def test_coupon_code_is_stored_in_capitals(admin_client):
    assert add_coupon(admin_client, code=" launch20 ", kind="percent", percent_off="20").status_code == 302
    assert add_coupon(admin_client, code="five", kind="fixed", amount_off="5", currency="USD").status_code == 302
    assert sorted(Coupon.objects.values_list("code", "percent_off", "amount_off_minor")) == [
        ("FIVE", None, 500),
        ("LAUNCH20", 20, None),
    ]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"code": "X", "kind": "percent", "percent_off": "0"}, "percent_off", "1 to 100 per cent"),
        ({"code": "X", "kind": "fixed", "amount_off": "5"}, "currency", "needs the currency"),
        ({"code": "X", "kind": "fixed", "currency": "USD"}, "amount_off", "Enter the amount"),
        ({"code": "bad code!", "kind": "percent", "percent_off": "5"}, "code", "letters, digits"),
        (
            {
                "code": "X",
                "kind": "percent",
                "percent_off": "5",
                "valid_from_0": "2026-02-01",
                "valid_from_1": "00:00",
                "valid_until_0": "2026-01-01",
                "valid_until_1": "00:00",
            },
            "valid_until",
            "must end after it starts",
        ),
    ],
)
def test_bad_coupon_input_is_a_field_error_and_saves_nothing(admin_client, fields, field, message):
    response = add_coupon(admin_client, **fields)
    assert response.status_code == 200
    assert message in " ".join(errors_of(response)[field])
    assert Coupon.objects.count() == 0
