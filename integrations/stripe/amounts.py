"""Stripe's amount representation, where it differs from ISO 4217 minor units.

Ladder keeps money in ISO 4217 minor units. Stripe agrees for almost every currency; the exceptions
(https://docs.stripe.com/currencies, special cases) are ISK and UGX, zero-decimal in ISO but sent to Stripe as
two-decimal values whose decimals are always 00, and MGA, two-decimal in ISO but zero-decimal at Stripe.
"""

from __future__ import annotations

from integrations.errors import IntegrationPermanentError

_TIMES_100 = frozenset({"ISK", "UGX"})
_DIVIDED_BY_100 = frozenset({"MGA"})


def to_stripe(amount_minor: int, currency: str) -> int:
    code = currency.upper()
    if code in _TIMES_100:
        return amount_minor * 100
    if code in _DIVIDED_BY_100:
        if amount_minor % 100:
            raise IntegrationPermanentError(f"Stripe charges {code} in whole units; {amount_minor} minor units is not.")
        return amount_minor // 100
    return amount_minor


def from_stripe(amount: int, currency: str) -> int:
    code = currency.upper()
    if code in _TIMES_100:
        return amount // 100
    if code in _DIVIDED_BY_100:
        return amount * 100
    return amount
