"""Audience sizes per day, for the Reports dashboard (the template composes it: analytics does not import audiences)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template

from audiences.charts import size_chart
from audiences.models import Audience, AudienceSize

register = template.Library()


@register.inclusion_tag("audiences/growth.html")
def audience_growth(since: dt.date, until: dt.date) -> dict[str, Any]:
    """Each audience's size on each day of ``[since, until)`` it was refreshed, with its first and last size."""
    sizes: dict[int, list[tuple[dt.date, int]]] = {}
    for audience_id, day, size in AudienceSize.objects.filter(day__gte=since, day__lt=until).values_list(
        "audience_id", "day", "size"
    ):
        sizes.setdefault(audience_id, []).append((day, size))
    rows = []
    for audience in Audience.objects.order_by("name"):
        points = sorted(sizes.get(audience.pk, []))
        rows.append(
            {
                "audience": audience,
                "first": points[0] if points else None,
                "last": points[-1] if points else None,
                "chart": size_chart(points),
            }
        )
    return {"rows": rows}
