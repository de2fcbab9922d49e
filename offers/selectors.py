"""Reads for orders and payments."""

from __future__ import annotations

from offers.models import Order


def current_order(*, lead_id: int | None, funnel_id: int) -> Order | None:
    """The lead's most recent paid order in this funnel: the one that upsells add to."""
    if lead_id is None:
        return None
    return (
        Order.objects.select_related("lead")
        .filter(lead_id=lead_id, funnel_id=funnel_id, status__in=[Order.Status.PAID, Order.Status.PARTIALLY_REFUNDED])
        .order_by("-paid_at")
        .first()
    )
