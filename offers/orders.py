"""Orders: made with their lines (and a coupon claimed) in one transaction, and erasure's share of them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from common.errors import ApplicationError
from common.money import Money
from leads.models import Lead
from offers.coupons import coupon_check_usable, coupon_line_discounts, coupon_redeem
from offers.models import Coupon, Offer, Order, OrderLine


@transaction.atomic
def order_create(
    *,
    lead: Lead,
    offers: Sequence[Offer],
    funnel_id: int | None = None,
    coupon: Coupon | None = None,
    created_at: dt.datetime | None = None,
) -> Order:
    """A pending order with one line per offer; the total is computed here, never taken from a client."""
    if not offers:
        raise ApplicationError("An order needs at least one offer.")
    currencies = {offer.currency for offer in offers}
    if len(currencies) != 1:
        raise ApplicationError(f"An order has one currency; these offers mix {', '.join(sorted(currencies))}.")
    currency = currencies.pop()
    created_at = created_at or timezone.now()
    subtotal = Money(sum(offer.amount_minor for offer in offers), currency)
    line_discounts = [0] * len(offers)
    if coupon is not None:
        coupon_check_usable(coupon=coupon, offers=offers, now=created_at)
        line_discounts = coupon_line_discounts(coupon=coupon, offers=offers, currency=currency)
    discount = Money(sum(line_discounts), currency)
    order = Order.objects.create(
        lead=lead,
        funnel_id=funnel_id,
        currency=currency,
        subtotal_minor=subtotal.amount_minor,
        discount_minor=discount.amount_minor,
        total_minor=(subtotal - discount).amount_minor,
        coupon=coupon,
        created_at=created_at,
    )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            offer=offer,
            role=offer.role,
            description=offer.name,
            amount_minor=offer.amount_minor,
            discount_minor=line_discount,
            currency=offer.currency,
            created_at=created_at,
        )
        for offer, line_discount in zip(offers, line_discounts, strict=True)
    )
    if coupon is not None:
        coupon_redeem(coupon=coupon, order=order)
    return order


def orders_client_forget(*, lead_id: int) -> int:
    """Erasure: the browser context each of a person's orders kept for conversions (address, user agent, click ids)
    is dropped; the orders themselves stay for the books. Returns how many orders held one."""
    return Order.objects.filter(lead_id=lead_id).exclude(client={}).update(client={})
