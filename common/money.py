"""Money: integer minor units beside an ISO 4217 currency. All rounding lives here; floats never touch money."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# Active ISO 4217 codes and their minor-unit exponents. Codes not listed here are refused everywhere.
_ZERO_DECIMAL = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMAL = "BHD IQD JOD KWD LYD OMR TND"
_TWO_DECIMAL = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF "
    "CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR "
    "ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN "
    "MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS "
    "SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWL"
)
CURRENCY_EXPONENT: dict[str, int] = {
    **dict.fromkeys(_ZERO_DECIMAL.split(), 0),
    **dict.fromkeys(_TWO_DECIMAL.split(), 2),
    **dict.fromkeys(_THREE_DECIMAL.split(), 3),
}
CURRENCY_CHOICES = sorted((code, code) for code in CURRENCY_EXPONENT)

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "INR": "₹", "CHF": "CHF "}


class UnknownCurrency(ValueError):
    pass


def currency_exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENT[currency]
    except KeyError:
        raise UnknownCurrency(f"{currency!r} is not an ISO 4217 currency code (for example USD, EUR, JPY).") from None


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        currency_exponent(self.currency)
        if not isinstance(self.amount_minor, int) or isinstance(self.amount_minor, bool):
            raise TypeError("amount_minor must be an int")

    @classmethod
    def from_decimal(cls, amount: Decimal | str, currency: str) -> Money:
        """Major units (e.g. Decimal('9.99')) to minor units, rounding half up at the currency's exponent."""
        exponent = currency_exponent(currency)
        scaled = (Decimal(amount) * (Decimal(10) ** exponent)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return cls(int(scaled), currency)

    def to_decimal(self) -> Decimal:
        return Decimal(self.amount_minor).scaleb(-currency_exponent(self.currency))

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def percent_of(self, percent: int | Decimal) -> Money:
        """``percent`` per cent of this amount, rounded half up to a whole minor unit."""
        share = (Decimal(self.amount_minor) * Decimal(percent) / Decimal(100)).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
        return Money(int(share), self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __str__(self) -> str:
        return format_money(self.amount_minor, self.currency)


def format_money(amount_minor: int, currency: str) -> str:
    """ "$1,234.50", "-$3.27", "1,000 JPY"-style text (the sign before the symbol)."""
    exponent = currency_exponent(currency)
    major = Decimal(abs(amount_minor)).scaleb(-exponent)
    text = f"{major:,.{exponent}f}"
    sign = "-" if amount_minor < 0 else ""
    symbol = _SYMBOLS.get(currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


def allocate(amount_minor: int, weights: list[int]) -> list[int]:
    """Split ``amount_minor`` over ``weights`` in proportion, in whole minor units that add up exactly.

    Largest remainder: each share is rounded down, then the units left over go one each to the largest remainders,
    ties to the earlier weight. No share exceeds its weight when ``amount_minor`` does not exceed their sum, so a
    discount or a refund spread over lines never takes a line below zero.
    """
    total = sum(weights)
    if amount_minor < 0 or any(weight < 0 for weight in weights):
        raise ValueError("allocate takes a non-negative amount and non-negative weights")
    if total == 0:
        if amount_minor:
            raise ValueError("cannot allocate an amount over weights that are all zero")
        return [0] * len(weights)
    shares = [amount_minor * weight // total for weight in weights]
    remainders = [amount_minor * weight % total for weight in weights]
    left = amount_minor - sum(shares)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        shares[index] += 1
    return shares


def divide_minor(amount_minor: int, count: int) -> int | None:
    """``amount_minor / count`` to a whole minor unit, half away from zero (EPC, AOV); None when ``count`` is 0."""
    if count == 0:
        return None
    share = (Decimal(amount_minor) / Decimal(count)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(share)
