"""Charts drawn on the server as inline SVG: no script and no CDN, and they scale to their box."""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from common.money import format_money


def bars_svg(
    values: list[tuple[str, int]], *, label: str, currency: str, height: int = 140, count: bool = False
) -> SafeString:
    """A bar chart (one bar a day) as inline SVG with a line saying what it shows: it scales to its box, so it reads
    at 1280 px and on a phone; each bar's tooltip gives its day and value."""

    def text(value: int) -> str:
        return f"{value:,}" if count else format_money(value, currency)

    width = max(len(values), 1) * 10
    top = max((v for _, v in values), default=0) or 1
    bars = "".join(
        format_html(
            '<rect x="{}" y="{}" width="8" height="{}" fill="#2b6cb0"><title>{}: {}</title></rect>',
            index * 10 + 1,
            height - round(value * (height - 10) / top),
            round(value * (height - 10) / top),
            day,
            text(value),
        )
        for index, (day, value) in enumerate(values)
    )
    if not any(value for _, value in values):
        caption = "Nothing yet in this period."
    else:
        best_day, best = max(values, key=lambda item: item[1])
        total = sum(value for _, value in values)
        caption = f"{values[0][0]} to {values[-1][0]}: {text(total)} in all, the most {text(best)} on {best_day}."
    return format_html(
        '<figure style="margin:0 0 1em"><svg viewBox="0 0 {} {}" preserveAspectRatio="none" role="img" '
        'aria-label="{}" style="width:100%;height:{}px;background:#f7fafc">{}</svg>'
        '<figcaption class="help">{}</figcaption></figure>',
        width,
        height,
        label,
        height,
        mark_safe(bars),  # noqa: S308  # each bar was escaped by format_html above
        caption,
    )
