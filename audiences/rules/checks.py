"""Rules validated: every problem listed with the path of its condition (``all[1].event.funnel``)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from funnels.models import Funnel, Step, Variant
from leads.models import Consent, Event, Stage, Tag
from leads.normalization import normalize_country
from offers.models import Offer, Order, Product

COMBINATORS = ("all", "any", "not")
EVENT_KEYS = {
    "type",
    "funnel",
    "step",
    "variant",
    "offer",
    "min_count",
    "within_days",
    "between",
    "utm_source",
    "utm_campaign",
}
REVENUE_KEYS = {"top_percent", "currency"}
VALUE_KEYS = {
    "currency",
    "top_percent",
    "min_predicted_minor",
    "p_alive_at_least",
    "p_alive_below",
    "min_expected_purchases",
}
PURCHASE_KEYS = {"offer", "product", "role", "not_refunded", "within_days", "min_amount_minor", "currency"}
LEAD_KEYS = {
    "country",
    "region",
    "postal_code_prefix",
    "tags_any",
    "stage",
    "min_score",
    "consent",
    "created_within_days",
}
MAX_DEPTH = 8
PAID = (Order.Status.PAID, Order.Status.PARTIALLY_REFUNDED, Order.Status.REFUNDED)


class RuleInvalid(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# --- validation ------------------------------------------------------------------------------------------------


def rule_problems(rule: Any) -> list[str]:
    problems: list[str] = []
    _check(rule, "rule", problems, depth=0)
    return problems


def _check(rule: Any, path: str, problems: list[str], *, depth: int) -> None:
    if depth > MAX_DEPTH:
        problems.append(f"{path}: rules nest at most {MAX_DEPTH} levels deep.")
        return
    if not isinstance(rule, dict) or len(rule) != 1:
        problems.append(
            f"{path}: expected one of all / any / not / event / purchase / lead / revenue / value, as an object with "
            "one key."
        )
        return
    ((kind, body),) = rule.items()
    if kind in ("all", "any"):
        if not isinstance(body, list) or not body:
            problems.append(f"{path}.{kind}: expected a non-empty list of conditions.")
            return
        for i, child in enumerate(body):
            _check(child, f"{path}.{kind}[{i}]", problems, depth=depth + 1)
    elif kind == "not":
        _check(body, f"{path}.not", problems, depth=depth + 1)
    elif kind in CONDITION_CHECKS:
        if not isinstance(body, dict):
            problems.append(f"{path}.{kind}: expected an object of settings.")
            return
        CONDITION_CHECKS[kind](body, f"{path}.{kind}", problems)
    else:
        problems.append(
            f"{path}: unknown condition {kind!r}; use all, any, not, event, purchase, lead, revenue or value."
        )


def _unknown(body: dict[str, Any], allowed: set[str], path: str, problems: list[str]) -> None:
    for key in sorted(set(body) - allowed):
        problems.append(f"{path}.{key}: unknown setting; allowed are {', '.join(sorted(allowed))}.")


def _positive_int(body: dict[str, Any], key: str, path: str, problems: list[str], *, minimum: int = 1) -> None:
    value = body.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < minimum):
        problems.append(f"{path}.{key}: expected a whole number of at least {minimum}, not {value!r}.")


def _exists(model: Any, body: dict[str, Any], key: str, path: str, problems: list[str], label: str) -> None:
    value = body.get(key)
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        problems.append(f"{path}.{key}: expected the id of a {label}, not {value!r}.")
    elif not model.objects.filter(pk=value).exists():
        problems.append(f"{path}.{key}: {label} {value} does not exist (deleted?); pick another or remove it.")


def _window(body: dict[str, Any], path: str, problems: list[str]) -> None:
    _positive_int(body, "within_days", path, problems)
    between = body.get("between")
    if between is None:
        return
    if "within_days" in body:
        problems.append(f"{path}.between: use either within_days or between, not both.")
    dates = between_dates(between)
    if dates is None:
        problems.append(f'{path}.between: expected two dates, e.g. ["2026-01-01", "2026-02-01"].')
    elif dates[0] >= dates[1]:
        problems.append(f"{path}.between: the first date must be before the second.")


def between_dates(value: Any) -> tuple[dt.datetime, dt.datetime] | None:
    """A ``between`` pair of ISO dates as (start, exclusive end), or None when it is not one."""
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, str) for v in value):
        return None
    try:
        start, end = (dt.date.fromisoformat(v) for v in value)
    except ValueError:
        return None
    tz = timezone.get_current_timezone()
    return (
        dt.datetime.combine(start, dt.time.min, tzinfo=tz),
        dt.datetime.combine(end, dt.time.min, tzinfo=tz),
    )


def _check_event(body: dict[str, Any], path: str, problems: list[str]) -> None:
    _unknown(body, EVENT_KEYS, path, problems)
    if body.get("type") not in Event.Type.values:
        problems.append(f"{path}.type: expected one of {', '.join(Event.Type.values)}, not {body.get('type')!r}.")
    _exists(Funnel, body, "funnel", path, problems, "funnel")
    _exists(Step, body, "step", path, problems, "step")
    _exists(Variant, body, "variant", path, problems, "variant")
    _exists(Offer, body, "offer", path, problems, "offer")
    _positive_int(body, "min_count", path, problems)
    _window(body, path, problems)
    for key in ("utm_source", "utm_campaign"):
        if key in body and (not isinstance(body[key], str) or not body[key].strip()):
            problems.append(f"{path}.{key}: expected a non-empty text.")


def _check_purchase(body: dict[str, Any], path: str, problems: list[str]) -> None:
    _unknown(body, PURCHASE_KEYS, path, problems)
    _exists(Offer, body, "offer", path, problems, "offer")
    _exists(Product, body, "product", path, problems, "product")
    if "role" in body and body["role"] not in Offer.Role.values:
        problems.append(f"{path}.role: expected one of {', '.join(Offer.Role.values)}, not {body['role']!r}.")
    if "not_refunded" in body and not isinstance(body["not_refunded"], bool):
        problems.append(f"{path}.not_refunded: expected true or false.")
    _positive_int(body, "within_days", path, problems)
    _positive_int(body, "min_amount_minor", path, problems, minimum=0)
    if ("min_amount_minor" in body) != ("currency" in body):
        problems.append(f'{path}.min_amount_minor: give an amount together with its currency (e.g. "USD").')


def _check_lead(body: dict[str, Any], path: str, problems: list[str]) -> None:
    _unknown(body, LEAD_KEYS, path, problems)
    if not body:
        problems.append(f"{path}: name at least one field to match.")
    for key in ("country", "region", "postal_code_prefix", "tags_any"):
        if key in body and not text_list(body[key]):
            problems.append(f"{path}.{key}: expected a text or a non-empty list of texts.")
    for code in text_list(body.get("country")):
        try:
            normalize_country(code)
        except ValidationError:
            problems.append(f"{path}.country: {code!r} is not a country code; use ISO 3166 alpha-2, e.g. US.")
    if "tags_any" in body and text_list(body["tags_any"]):
        missing = set(text_list(body["tags_any"])) - set(Tag.objects.values_list("name", flat=True))
        for name in sorted(missing):
            problems.append(f"{path}.tags_any: there is no tag {name!r}.")
    if "stage" in body and not Stage.objects.filter(name=body["stage"]).exists():
        problems.append(f"{path}.stage: there is no pipeline stage {body['stage']!r}.")
    if "consent" in body and body["consent"] not in Consent.Purpose.values:
        problems.append(f"{path}.consent: expected one of {', '.join(Consent.Purpose.values)}.")
    _positive_int(body, "min_score", path, problems, minimum=-(10**9))
    _positive_int(body, "created_within_days", path, problems)


def text_list(value: Any) -> list[str]:
    """A string or a list of strings as a list ([] when it is neither, or holds a blank)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v.strip() for v in items):
        return []
    return [v.strip() for v in items]


def _check_revenue(body: dict[str, Any], path: str, problems: list[str]) -> None:
    _unknown(body, REVENUE_KEYS, path, problems)
    percent = body.get("top_percent")
    if not isinstance(percent, int) or isinstance(percent, bool) or not 1 <= percent <= 100:
        problems.append(f"{path}.top_percent: expected a whole per cent from 1 to 100, not {percent!r}.")
    currency = body.get("currency")
    if not isinstance(currency, str) or len(currency) != 3:
        problems.append(f'{path}.currency: expected the currency whose revenue is ranked, e.g. "USD".')


def _check_value(body: dict[str, Any], path: str, problems: list[str]) -> None:
    _unknown(body, VALUE_KEYS, path, problems)
    currency = body.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        problems.append(f'{path}.currency: expected the currency of the predictions, e.g. "USD".')
    if not set(body) - {"currency"}:
        problems.append(
            f"{path}: name at least one of top_percent, min_predicted_minor, p_alive_at_least, p_alive_below, "
            "min_expected_purchases."
        )
    if "top_percent" in body:
        percent = body["top_percent"]
        if not isinstance(percent, int) or isinstance(percent, bool) or not 1 <= percent <= 100:
            problems.append(f"{path}.top_percent: expected a whole per cent from 1 to 100, not {percent!r}.")
    _positive_int(body, "min_predicted_minor", path, problems, minimum=0)
    for key in ("p_alive_at_least", "p_alive_below"):
        if key in body and not (_number(body[key]) and 0 <= body[key] <= 1):
            problems.append(f"{path}.{key}: expected a probability from 0 to 1, not {body[key]!r}.")
    if _number(body.get("p_alive_at_least")) and _number(body.get("p_alive_below")):
        if body["p_alive_at_least"] >= body["p_alive_below"]:
            problems.append(f"{path}.p_alive_below: must be above p_alive_at_least, or nobody matches.")
    if "min_expected_purchases" in body and not (
        _number(body["min_expected_purchases"]) and body["min_expected_purchases"] >= 0
    ):
        problems.append(f"{path}.min_expected_purchases: expected a number of at least 0.")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


CONDITION_CHECKS: dict[str, Callable[[dict[str, Any], str, list[str]], None]] = {
    "event": _check_event,
    "purchase": _check_purchase,
    "lead": _check_lead,
    "revenue": _check_revenue,
    "value": _check_value,
}
