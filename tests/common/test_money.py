from decimal import Decimal

import pytest

from common.money import Money, UnknownCurrency, allocate, divide_minor, format_money


def test_from_decimal_rounds_half_up_at_the_currency_exponent():
    assert Money.from_decimal(Decimal("9.995"), "USD") == Money(1000, "USD")
    assert Money.from_decimal(Decimal("9.994"), "USD") == Money(999, "USD")
    assert Money.from_decimal("700", "JPY") == Money(700, "JPY")
    assert Money.from_decimal("1.2345", "KWD") == Money(1235, "KWD")


def test_percent_of_rounds_half_up_to_whole_minor_units():
    assert Money(700, "USD").percent_of(20) == Money(140, "USD")
    assert Money(999, "USD").percent_of(15) == Money(150, "USD")  # 149.85 → 150


def test_money_refuses_mixing_currencies_and_unknown_codes():
    with pytest.raises(ValueError, match="cannot combine USD with EUR"):
        Money(100, "USD") + Money(100, "EUR")
    with pytest.raises(UnknownCurrency, match="'XYZ' is not an ISO 4217"):
        Money(100, "XYZ")
    with pytest.raises(TypeError):
        Money(1.5, "USD")  # type: ignore[arg-type]


def test_format_money():
    assert format_money(1700, "USD") == "$17.00"
    assert format_money(123456, "EUR") == "€1,234.56"
    assert format_money(700, "JPY") == "¥700"
    assert format_money(1500, "SEK") == "15.00 SEK"
    assert format_money(-327, "USD") == "-$3.27"
    assert format_money(-1500, "SEK") == "-15.00 SEK"


@pytest.mark.parametrize(
    ("amount", "weights", "shares"),
    [
        (500, [700, 1700], [146, 354]),
        (3, [1, 1, 1], [1, 1, 1]),
        (2, [1, 1, 1], [1, 1, 0]),  # ties go to the earlier weight
        (0, [5, 0], [0, 0]),
        (7, [7, 0], [7, 0]),
    ],
)
def test_allocate_splits_exactly_in_proportion(amount, weights, shares):
    assert allocate(amount, weights) == shares
    assert sum(allocate(amount, weights)) == amount


def test_allocate_and_divide_refuse_what_has_no_answer():
    with pytest.raises(ValueError, match="all zero"):
        allocate(5, [0, 0])
    with pytest.raises(ValueError, match="non-negative"):
        allocate(-1, [1])
    assert divide_minor(3100, 3) == 1033
    assert divide_minor(5, 2) == 3  # half up
    assert divide_minor(-5, 2) == -3  # half away from zero
    assert divide_minor(10, 0) is None
