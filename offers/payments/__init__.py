"""Charging through Stripe: the order-form checkout, one-click offers on the saved card, and refunds.

Every charge is recorded as a ``Payment`` with its idempotency key *before* Stripe is asked, and the key is
derived from what is being bought (the order, or the order and the offer), so a double click, a reload, the
library's own retries or a retry after a crash all reach Stripe as one request and charge once. Success is
applied by ``payment_succeeded`` — from the webhook, or at once when Stripe answers a one-click charge — and
applying it twice changes nothing.
"""

from __future__ import annotations

from offers.payments.checkout import (
    CheckoutStarted,
    checkout_record,
    checkout_start,
    coupon_for_code,
)
from offers.payments.gateway import UNREACHABLE, PageOrigin, payments_enabled, stripe_gateway
from offers.payments.one_click import (
    OneClick,
    addon_checkout_start,
    addon_payment_record,
    one_click_buy,
    one_click_window_open,
    payment_failed,
    payment_succeeded,
    purchase_events_record,
)
from offers.payments.refunds import (
    chargeback_event_record,
    dispute_opened_record,
    refund_event_record,
    refund_request_create,
    refund_request_send,
    refundable_minor,
)

__all__ = [
    "CheckoutStarted",
    "OneClick",
    "PageOrigin",
    "UNREACHABLE",
    "addon_checkout_start",
    "addon_payment_record",
    "chargeback_event_record",
    "checkout_record",
    "checkout_start",
    "coupon_for_code",
    "dispute_opened_record",
    "one_click_buy",
    "one_click_window_open",
    "payment_failed",
    "payment_succeeded",
    "payments_enabled",
    "purchase_events_record",
    "refund_event_record",
    "refund_request_create",
    "refund_request_send",
    "refundable_minor",
    "stripe_gateway",
]
