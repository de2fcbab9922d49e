"""A lead's lifetime value on its admin page (the leads app's page composes it; leads imports nothing above it)."""

from __future__ import annotations

from typing import Any

from django import template

from analytics.value import lead_value

register = template.Library()


@register.inclusion_tag("analytics/lead_value.html")
def lead_lifetime_value(lead_id: int | None) -> dict[str, Any]:
    return {"values": lead_value(lead_id=lead_id) if lead_id else []}
