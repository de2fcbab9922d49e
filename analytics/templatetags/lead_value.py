"""A lead's lifetime value on its admin page (the leads app's page composes it; leads imports nothing above it)."""

from __future__ import annotations

from typing import Any

from django import template

from analytics.exchange import total_in_reporting_currency
from analytics.value import lead_value

register = template.Library()


@register.inclusion_tag("analytics/lead_value.html")
def lead_lifetime_value(lead_id: int | None) -> dict[str, Any]:
    """The lead's value per currency; with more than one currency, the totals in the reporting currency where the
    exchange-rate table covers them all, else which rates are missing."""
    values = lead_value(lead_id=lead_id) if lead_id else []
    context: dict[str, Any] = {"values": values}
    if len(values) > 1:
        context["net_total"] = total_in_reporting_currency({v.currency: v.net_minor for v in values})
        predicted = {v.currency: v.predicted_value_minor for v in values if v.predicted_value_minor is not None}
        if len(predicted) == len(values):
            context["predicted_total"] = total_in_reporting_currency(predicted)
    return context
