"""Valid rules compiled to a ``Q`` on Lead made of ``Exists`` subqueries: membership is one query, never a loop."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, Sum, Window
from django.db.models.functions import PercentRank
from django.utils import timezone

from analytics.models import CustomerValue
from audiences.rules.checks import PAID, RuleInvalid, between_dates, rule_problems, text_list
from leads.contracts import normalize_utm
from leads.models import Event, Lead
from leads.scoring import score_q
from leads.selectors import granted_now
from offers.models import Order, OrderLine


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
        start, end = between_dates(body["between"]) or (now, now)
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
        q &= Q(country__in=[c.upper() for c in text_list(body["country"])])
    if "region" in body:
        regions = Q()
        for region in text_list(body["region"]):
            regions |= Q(region__unicode_lower=region.lower())  # Île is île on SQLite too
        q &= regions
    if "postal_code_prefix" in body:
        prefixes = Q()
        for prefix in text_list(body["postal_code_prefix"]):
            prefixes |= Q(postal_code__unicode_lower__startswith=prefix.lower())
        q &= prefixes
    if "tags_any" in body:
        tagged = Lead.tags.through.objects.filter(lead_id=OuterRef("pk"), tag__name__in=text_list(body["tags_any"]))
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
