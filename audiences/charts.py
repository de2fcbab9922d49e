"""An audience's growth, drawn on the server as SVG."""

from __future__ import annotations

import datetime as dt

from django.utils.html import format_html
from django.utils.safestring import SafeString


def size_chart(sizes: list[tuple[dt.date, int]]) -> SafeString:
    """A small SVG line of the audience's daily size."""
    if len(sizes) < 2:
        return format_html("<em>{}</em>", "The chart appears after two days of refreshes.")
    width, height, pad = 480, 120, 8
    top = max(size for _, size in sizes) or 1
    step = (width - 2 * pad) / (len(sizes) - 1)
    points = " ".join(
        f"{pad + i * step:.1f},{height - pad - (size / top) * (height - 2 * pad):.1f}"
        for i, (_, size) in enumerate(sizes)
    )
    return format_html(
        '<svg width="{}" height="{}" role="img" aria-label="{}"><polyline fill="none" stroke="#15803d" '
        'stroke-width="2" points="{}"/><text x="{}" y="14" font-size="12">{}</text></svg>',
        width,
        height,
        f"Size from {sizes[0][1]} on {sizes[0][0]} to {sizes[-1][1]} on {sizes[-1][0]}",
        points,
        pad,
        f"max {top}",
    )
