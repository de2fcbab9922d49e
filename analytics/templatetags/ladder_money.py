from __future__ import annotations

from django import template

from common.money import format_money

register = template.Library()


@register.filter
def money(amount_minor: float | None, currency: str) -> str:
    return "—" if amount_minor is None else format_money(round(amount_minor), currency)


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


@register.filter
def label(name: str) -> str:
    """A code name as words: "last_30_days" → "Last 30 days"."""
    return name.replace("_", " ").capitalize()
