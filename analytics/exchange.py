"""Totals across currencies, in the reporting currency, from the exchange-rate table the account keeps.

An amount converts at the latest rate for its currency valid on the day asked about; the reporting currency is 1.
A total is given only when every currency in it has a rate: otherwise the caller learns which currencies lack one
and shows the amounts apart. Each currency's sum converts once, rounded half to even to the reporting currency's
minor unit, and the converted sums are added.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from django.conf import settings
from django.utils import timezone

from analytics.models import ExchangeRate
from common.money import currency_exponent


def rates_on(day: dt.date, currencies: set[str]) -> dict[str, Decimal]:
    """The rate into the reporting currency of each of ``currencies`` that has one on ``day``."""
    reporting = settings.REPORTS_CURRENCY
    found = {reporting: Decimal(1)} if reporting in currencies else {}
    for rate in ExchangeRate.objects.filter(currency__in=currencies - {reporting}, valid_from__lte=day).order_by(
        "currency", "-valid_from"
    ):
        found.setdefault(rate.currency, rate.rate)
    return found


@dataclass(frozen=True, kw_only=True, slots=True)
class Total:
    currency: str  # the reporting currency
    amount_minor: int | None  # None when a currency lacks a rate
    missing: tuple[str, ...]  # the currencies without a rate


def total_in_reporting_currency(amounts: dict[str, int], *, day: dt.date | None = None) -> Total:
    """The sum of ``amounts`` (minor units by currency) in the reporting currency, or which rates are missing."""
    day = day or timezone.localdate()
    reporting = settings.REPORTS_CURRENCY
    rates = rates_on(day, set(amounts))
    missing = tuple(sorted(set(amounts) - set(rates)))
    if missing:
        return Total(currency=reporting, amount_minor=None, missing=missing)
    target = currency_exponent(reporting)
    total = 0
    for currency, amount in amounts.items():
        major = Decimal(amount).scaleb(-currency_exponent(currency)) * rates[currency]
        total += int(major.scaleb(target).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    return Total(currency=reporting, amount_minor=total, missing=())
