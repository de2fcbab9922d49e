"""Audience rules in funnel vocabulary, validated with precise messages and compiled to one SQL query.

A rule is JSON: a combinator or a condition.

* ``{"all": [rule, ...]}``, ``{"any": [rule, ...]}``, ``{"not": rule}``
* ``{"event": {...}}`` — the lead has events: ``type`` (required), ``funnel``, ``step``, ``variant``, ``offer``
  (ids), ``min_count`` (default 1), ``within_days`` or ``between`` (``["2026-01-01", "2026-02-01"]``, end
  exclusive), ``utm_source``, ``utm_campaign``.
* ``{"purchase": {...}}`` — the lead bought (a paid order line): ``offer``, ``product`` (ids), ``role`` (a ladder
  role), ``not_refunded`` (the order is not refunded in full), ``within_days``, ``min_amount_minor`` with
  ``currency``.
* ``{"revenue": {"top_percent": 20, "currency": "USD"}}`` — the top buyers by revenue net of refunds.
* ``{"value": {...}}`` — the buyer's predicted lifetime value in ``currency`` (required), from the last nightly fit:
  ``top_percent`` (the top buyers by predicted value), ``min_predicted_minor``, ``p_alive_at_least`` /
  ``p_alive_below`` (0–1; likely active from 0.7, at risk from 0.3, lapsed below), ``min_expected_purchases``.
  Leads without a prediction (no purchase, or a fit that could not be used) never match.
* ``{"lead": {...}}`` — the lead's own fields: ``country`` / ``region`` / ``postal_code_prefix`` (lists or a
  string), ``tags_any`` (tag names), ``stage`` (stage name), ``min_score``, ``consent`` (a purpose currently
  granted), ``created_within_days``.

``rule_problems`` lists what is wrong, each with the path of the condition (``all[1].event.funnel``); a rule
that names a deleted funnel, step or offer is a problem, never a silently empty audience. ``rule_q`` turns a
valid rule into a ``Q`` on Lead made of ``Exists`` subqueries, so membership is one query, never a loop.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, F, OuterRef, Q, Sum, Window
from django.db.models.functions import PercentRank
from django.utils import timezone

from analytics.models import CustomerValue
from funnels.models import Funnel, Step, Variant
from leads.contracts import normalize_utm
from leads.models import Consent, Event, Lead, Stage, Tag
from leads.normalization import normalize_country
from leads.scoring import score_q
from leads.selectors import granted_now
from offers.models import Offer, Order, OrderLine, Product

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
    dates = _dates(between)
    if dates is None:
        problems.append(f'{path}.between: expected two dates, e.g. ["2026-01-01", "2026-02-01"].')
    elif dates[0] >= dates[1]:
        problems.append(f"{path}.between: the first date must be before the second.")


def _dates(value: Any) -> tuple[dt.datetime, dt.datetime] | None:
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
        if key in body and not _texts(body[key]):
            problems.append(f"{path}.{key}: expected a text or a non-empty list of texts.")
    for code in _texts(body.get("country")):
        try:
            normalize_country(code)
        except ValidationError:
            problems.append(f"{path}.country: {code!r} is not a country code; use ISO 3166 alpha-2, e.g. US.")
    if "tags_any" in body and _texts(body["tags_any"]):
        missing = set(_texts(body["tags_any"])) - set(Tag.objects.values_list("name", flat=True))
        for name in sorted(missing):
            problems.append(f"{path}.tags_any: there is no tag {name!r}.")
    if "stage" in body and not Stage.objects.filter(name=body["stage"]).exists():
        problems.append(f"{path}.stage: there is no pipeline stage {body['stage']!r}.")
    if "consent" in body and body["consent"] not in Consent.Purpose.values:
        problems.append(f"{path}.consent: expected one of {', '.join(Consent.Purpose.values)}.")
    _positive_int(body, "min_score", path, problems, minimum=-(10**9))
    _positive_int(body, "created_within_days", path, problems)


def _texts(value: Any) -> list[str]:
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


# --- compilation --------------------------------------------------------------------------------------------


def rule_q(rule: dict[str, Any], *, now: dt.datetime | None = None) -> Q:
    """A ``Q`` on Lead for a rule; raises RuleInvalid (with every problem) for a rule that does not validate."""
    problems = rule_problems(rule)
    if problems:
        raise RuleInvalid(problems)
    return _compile(rule, now or timezone.now())


def rule_members(rule: dict[str, Any], *, now: dt.datetime | None = None) -> Any:
    """The leads a rule selects (erased leads never)."""
    return Lead.objects.filter(erased_at__isnull=True).filter(rule_q(rule, now=now))


def _compile(rule: dict[str, Any], now: dt.datetime) -> Q:
    ((kind, body),) = rule.items()
    if kind == "all":
        q = Q()
        for child in body:
            q &= _compile(child, now)
        return q
    if kind == "any":
        q = _compile(body[0], now)
        for child in body[1:]:
            q |= _compile(child, now)
        return q
    if kind == "not":
        inner = _compile(body, now)
        if _names_lead_fields(body):
            # SQL's NOT (region = 'x') is NULL, not true, for a lead without a region (or stage, owner, ...): negate
            # "the lead is one of those the condition selects" instead, which is exact for every lead.
            return ~Q(Exists(Lead.objects.filter(inner, pk=OuterRef("pk"))))
        return ~inner  # the other conditions are EXISTS subqueries: their negation is exact already
    return COMPILERS[kind](body, now)


def _names_lead_fields(rule: Any) -> bool:
    ((kind, body),) = rule.items()
    if kind in ("all", "any"):
        return any(_names_lead_fields(child) for child in body)
    if kind == "not":
        return _names_lead_fields(body)
    return kind == "lead"


def _since(days: int, now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(days=days)


def _event_q(body: dict[str, Any], now: dt.datetime) -> Q:
    events = Event.objects.filter(type=body["type"])
    for key, column in (("funnel", "funnel_id"), ("step", "step_id"), ("variant", "variant_id"), ("offer", "offer_id")):
        if key in body:
            events = events.filter(**{column: body[key]})
    if "within_days" in body:
        events = events.filter(occurred_at__gte=_since(body["within_days"], now))
    if "between" in body:
        start, end = _dates(body["between"]) or (now, now)
        events = events.filter(occurred_at__gte=start, occurred_at__lt=end)
    for key in ("utm_source", "utm_campaign"):
        if key in body:
            # Stored normalized since capture normalizes; iexact still matches what older landings kept.
            events = events.filter(**{f"properties__{key}__iexact": normalize_utm(body[key])})
    count = body.get("min_count", 1)
    if count <= 1:
        return Q(Exists(events.filter(lead=OuterRef("pk"))))
    # Leads with ``count`` or more matching events: one grouped subquery.
    counted = events.filter(lead__isnull=False).values("lead_id").annotate(n=Count("id")).filter(n__gte=count)
    return Q(pk__in=counted.values("lead_id"))


def _purchase_q(body: dict[str, Any], now: dt.datetime) -> Q:
    lines = OrderLine.objects.filter(order__lead=OuterRef("pk"), order__status__in=PAID)
    if body.get("not_refunded"):
        lines = lines.exclude(order__status=Order.Status.REFUNDED)
    if "offer" in body:
        lines = lines.filter(offer_id=body["offer"])
    if "product" in body:
        lines = lines.filter(offer__product_id=body["product"])
    if "role" in body:
        lines = lines.filter(role=body["role"])
    if "within_days" in body:
        lines = lines.filter(created_at__gte=_since(body["within_days"], now))
    if "min_amount_minor" in body:
        lines = lines.filter(amount_minor__gte=body["min_amount_minor"], currency=body["currency"].upper())
    return Q(Exists(lines))


def _lead_q(body: dict[str, Any], now: dt.datetime) -> Q:
    q = Q()
    if "country" in body:
        q &= Q(country__in=[c.upper() for c in _texts(body["country"])])
    if "region" in body:
        regions = Q()
        for region in _texts(body["region"]):
            regions |= Q(region__unicode_lower=region.lower())  # Île is île on SQLite too
        q &= regions
    if "postal_code_prefix" in body:
        prefixes = Q()
        for prefix in _texts(body["postal_code_prefix"]):
            prefixes |= Q(postal_code__unicode_lower__startswith=prefix.lower())
        q &= prefixes
    if "tags_any" in body:
        tagged = Lead.tags.through.objects.filter(lead_id=OuterRef("pk"), tag__name__in=_texts(body["tags_any"]))
        q &= Q(Exists(tagged))
    if "stage" in body:
        q &= Q(stage__name=body["stage"])
    if "min_score" in body:
        q &= score_q(minimum=body["min_score"], now=now)
    if "consent" in body:
        q &= Q(pk__in=granted_now(body["consent"]))
    if "created_within_days" in body:
        q &= Q(created_at__gte=_since(body["created_within_days"], now))
    return q


def _revenue_q(body: dict[str, Any], now: dt.datetime) -> Q:
    """The top ``top_percent`` % of buyers by revenue net of refunds, in one currency (a window over the sums)."""
    net = (
        Order.objects.filter(status__in=PAID, currency=body["currency"].upper())
        .values("lead_id")
        .annotate(net=Sum(F("total_minor") - F("refunded_minor")))
        .filter(net__gt=0)
    )
    if body["top_percent"] == 100:
        return Q(pk__in=net.values("lead_id"))  # every buyer (PERCENT_RANK < 1 would leave out the last)
    ranked = net.annotate(rank=Window(PercentRank(), order_by=F("net").desc())).filter(
        rank__lt=body["top_percent"] / 100
    )
    return Q(pk__in=ranked.values("lead_id"))


def _value_q(body: dict[str, Any], now: dt.datetime) -> Q:
    """Buyers by their last prediction: the top ``top_percent`` % of the currency's scored buyers (ranked among all
    of them), then the thresholds."""
    scored = CustomerValue.objects.filter(currency=body["currency"].upper())
    q = Q()
    if body.get("top_percent") == 100:
        q &= Q(pk__in=scored.values("lead_id"))
    elif "top_percent" in body:
        ranked = scored.annotate(rank=Window(PercentRank(), order_by=F("predicted_value_minor").desc())).filter(
            rank__lt=body["top_percent"] / 100
        )
        q &= Q(pk__in=ranked.values("lead_id"))
    limits = scored
    if "min_predicted_minor" in body:
        limits = limits.filter(predicted_value_minor__gte=body["min_predicted_minor"])
    if "p_alive_at_least" in body:
        limits = limits.filter(p_alive__gte=body["p_alive_at_least"])
    if "p_alive_below" in body:
        limits = limits.filter(p_alive__lt=body["p_alive_below"])
    if "min_expected_purchases" in body:
        limits = limits.filter(expected_purchases__gte=body["min_expected_purchases"])
    return q & Q(pk__in=limits.values("lead_id"))


COMPILERS: dict[str, Callable[[dict[str, Any], dt.datetime], Q]] = {
    "event": _event_q,
    "purchase": _purchase_q,
    "lead": _lead_q,
    "revenue": _revenue_q,
    "value": _value_q,
}
