"""Coupons: what one takes off an order and off each of its lines, whether it may be used, and claiming it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from common.errors import ApplicationError
from common.money import Money, allocate
from offers.models import Coupon, CouponRedemption, Offer, Order


def coupon_discount(*, coupon: Coupon, subtotal: Money) -> Money:
    """What ``coupon`` takes off ``subtotal``: never more than the subtotal, rounded half up."""
    if coupon.kind == Coupon.Kind.PERCENT:
        return subtotal.percent_of(coupon.percent_off or 0)
    if coupon.currency != subtotal.currency:
        raise ApplicationError(f"Coupon {coupon.code} is in {coupon.currency}; this order is in {subtotal.currency}.")
    return Money(min(coupon.amount_off_minor or 0, subtotal.amount_minor), subtotal.currency)


def coupon_line_discounts(*, coupon: Coupon, offers: Sequence[Offer], currency: str) -> list[int]:
    """Each line's share of ``coupon``, in the order of ``offers``.

    A coupon restricted to some offers discounts only those offers' lines (never the bump or the rest of the
    order); one for every offer discounts every line. The discount is computed on the eligible lines' subtotal and
    spread over them in proportion to their prices (``common.money.allocate``), so the shares add up exactly.
    """
    allowed = {offer.pk for offer in coupon.offers.all()}
    eligible = [not allowed or offer.pk in allowed for offer in offers]
    prices = [offer.amount_minor if ok else 0 for offer, ok in zip(offers, eligible, strict=True)]
    if not any(prices):
        return [0] * len(offers)
    discount = coupon_discount(coupon=coupon, subtotal=Money(sum(prices), currency))
    return allocate(discount.amount_minor, prices)


def coupon_check_usable(*, coupon: Coupon, offers: Sequence[Offer], now: dt.datetime | None = None) -> None:
    now = now or timezone.now()
    if not coupon.is_active:
        raise ApplicationError(f"Coupon {coupon.code} is no longer active.", field="coupon")
    if coupon.valid_from and now < coupon.valid_from:
        raise ApplicationError(f"Coupon {coupon.code} is not valid yet.", field="coupon")
    if coupon.valid_until and now >= coupon.valid_until:
        raise ApplicationError(f"Coupon {coupon.code} has expired.", field="coupon")
    allowed = {offer.pk for offer in coupon.offers.all()}
    if allowed and not allowed.intersection(offer.pk for offer in offers):
        raise ApplicationError(f"Coupon {coupon.code} does not apply to this offer.", field="coupon")


@transaction.atomic
def coupon_redeem(*, coupon: Coupon, order: Order) -> CouponRedemption:
    """Claim one redemption of ``coupon`` for ``order``.

    The claim is a single conditional UPDATE, so concurrent buyers can never push the count past
    ``max_redemptions``: the database decides who got the last one.
    """
    claimed = (
        Coupon.objects.filter(pk=coupon.pk, is_active=True)
        .filter(Q(max_redemptions__isnull=True) | Q(redemptions_count__lt=F("max_redemptions")))
        .update(redemptions_count=F("redemptions_count") + 1)
    )
    if not claimed:
        raise ApplicationError(f"Coupon {coupon.code} has been used up.", field="coupon")
    return CouponRedemption.objects.create(coupon=coupon, order=order, discount_minor=order.discount_minor)
