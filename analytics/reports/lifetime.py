"""Lifetime value by group of buyers: acquisition cohort, first-touch channel or campaign, and first offer bought.

Each row adds, over the group's buyers in one currency, the net revenue they have brought so far (their purchases, as
for cohorts and RFM) and the value the last nightly fit predicts for the coming months; its **CLV per buyer** is the
sum of the two over the buyers. The fit the predictions come from is reported with them (when, on how many buyers,
its holdout check), or why there is none.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth

from analytics.models import Buyer, ClvFit, CustomerValue, LeadFact, LineFact
from analytics.services import NO_TOUCH
from common.errors import ApplicationError
from offers.models import Offer

GROUPINGS = {
    "cohort": "the month of the buyer's first purchase",
    "channel": "the source of the buyer's first touch",
    "campaign": "the source and campaign of the buyer's first touch",
    "first_offer": "the offer of the buyer's first paid line (order bumps aside)",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class ValueRow:
    group: str
    buyers: int
    net_minor: int  # so far
    predicted_minor: int  # over the fit's horizon, of the scored buyers
    scored: int  # buyers with a prediction
    likely_active: int  # scored buyers with p(alive) ≥ 0.7
    net_per_buyer_minor: int
    predicted_per_buyer_minor: int
    clv_per_buyer_minor: int


@dataclass(frozen=True, kw_only=True, slots=True)
class FitSummary:
    fitted_at: dt.datetime
    usable: bool
    reason: str
    customers: int
    repeat_customers: int
    horizon_months: int
    holdout: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class LifetimeValueReport:
    currency: str
    by: str
    rows: list[ValueRow]
    fit: FitSummary | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def lifetime_value_report(*, currency: str, by: str = "cohort") -> LifetimeValueReport:
    if by not in GROUPINGS:
        raise ApplicationError(f"by must be one of {', '.join(GROUPINGS)}, not {by[:40]!r}.", field="by")
    predicted = CustomerValue.objects.filter(lead_id=OuterRef("lead_id"), currency=currency)
    buyers = Buyer.objects.filter(currency=currency).annotate(
        predicted=Subquery(predicted.values("predicted_value_minor")[:1]),
        alive=Subquery(predicted.values("p_alive")[:1]),
    )
    touch = LeadFact.objects.filter(lead_id=OuterRef("lead_id"))
    if by == "cohort":
        buyers = buyers.annotate(group=TruncMonth("first_day"))
        keys: list[str] = ["group"]
    elif by == "channel":
        buyers = buyers.annotate(group=Coalesce(Subquery(touch.values("first_source")[:1]), Value(NO_TOUCH[0])))
        keys = ["group"]
    elif by == "campaign":
        buyers = buyers.annotate(
            group=Coalesce(Subquery(touch.values("first_source")[:1]), Value(NO_TOUCH[0])),
            campaign=Coalesce(Subquery(touch.values("first_campaign")[:1]), Value("")),
        )
        keys = ["group", "campaign"]
    else:
        first_line = LineFact.objects.filter(
            lead_id=OuterRef("lead_id"), currency=currency, is_bump=False, charged_minor__gt=F("refunded_minor")
        ).order_by("day", "line_id")
        buyers = buyers.annotate(
            group=Coalesce(Subquery(first_line.values("offer_id")[:1]), Value(0), output_field=IntegerField())
        )
        keys = ["group"]
    grouped = (
        buyers.values(*keys)
        .annotate(
            n=Count("pk"),
            net=Sum("net_minor"),
            future=Coalesce(Sum("predicted"), 0),
            scored=Count("predicted"),
            active=Count("pk", filter=Q(alive__gte=0.7)),
        )
        .order_by(*keys)
    )
    names = dict(Offer.objects.values_list("pk", "name")) if by == "first_offer" else {}
    rows = []
    for row in grouped:
        label = _label(by, row, names)
        rows.append(
            ValueRow(
                group=label,
                buyers=row["n"],
                net_minor=row["net"],
                predicted_minor=row["future"],
                scored=row["scored"],
                likely_active=row["active"],
                net_per_buyer_minor=_per(row["net"], row["n"]),
                predicted_per_buyer_minor=_per(row["future"], row["n"]),
                clv_per_buyer_minor=_per(row["net"] + row["future"], row["n"]),
            )
        )
    if by != "cohort":
        rows.sort(key=lambda r: (-r.clv_per_buyer_minor * r.buyers, r.group))
    return LifetimeValueReport(currency=currency, by=by, rows=rows, fit=_fit(currency))


def _label(by: str, row: dict[str, Any], names: dict[int, str]) -> str:
    if by == "cohort":
        return f"{row['group']:%Y-%m}"
    if by == "campaign":
        return f"{row['group']} / {row['campaign'] or '(no campaign)'}"
    if by == "first_offer":
        return names.get(row["group"], "(deleted offer)") if row["group"] else "(bumps only)"
    return str(row["group"])


def _per(total: int, buyers: int) -> int:
    """A per-buyer amount in whole minor units, rounded half to even, exactly."""
    return round(Fraction(total, buyers)) if buyers else 0


def _fit(currency: str) -> FitSummary | None:
    fit = ClvFit.objects.filter(currency=currency).order_by("-fitted_at").first()
    if fit is None:
        return None
    return FitSummary(
        fitted_at=fit.fitted_at,
        usable=fit.usable,
        reason=fit.reason,
        customers=fit.customers,
        repeat_customers=fit.repeat_customers,
        horizon_months=fit.horizon_months,
        holdout=fit.holdout or {},
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class BuyerValue:
    lead: str  # the lead's public id
    email: str
    currency: str
    orders: int
    first_day: dt.date
    last_day: dt.date
    net_minor: int
    p_alive: float | None
    activity: str  # likely active, at risk, lapsed; "" without a prediction
    expected_purchases: float | None
    predicted_minor: int | None
    clv_minor: int  # net so far plus predicted (0 without a prediction)


ORDERINGS = {"predicted": "-predicted", "net": "-net_minor", "p_alive": "alive", "last_day": "-last_day"}


def buyers_by_value(
    *, currency: str, order: str = "predicted", lead: str | None = None, offset: int = 0, limit: int = 100
) -> tuple[int, list[BuyerValue]]:
    """Buyers in ``currency`` with their history and prediction, by ``order`` (most predicted value first by default,
    buyers without a prediction last), or the one ``lead`` (public id); returns (how many match, the page)."""
    from analytics.value import activity
    from leads.models import Lead

    if order not in ORDERINGS:
        raise ApplicationError(f"order must be one of {', '.join(ORDERINGS)}, not {order[:40]!r}.", field="order")
    predicted = CustomerValue.objects.filter(lead_id=OuterRef("lead_id"), currency=currency)
    buyers = Buyer.objects.filter(currency=currency).annotate(
        predicted=Subquery(predicted.values("predicted_value_minor")[:1]),
        alive=Subquery(predicted.values("p_alive")[:1]),
        expected=Subquery(predicted.values("expected_purchases")[:1]),
    )
    if lead is not None:
        found = Lead.objects.filter(public_id=lead).values_list("pk", flat=True).first() if _uuid(lead) else None
        if found is None:
            raise ApplicationError(f"No lead with the public id {lead[:40]!r}.", field="lead")
        buyers = buyers.filter(lead_id=found)
    key = ORDERINGS[order]
    column = F(key.lstrip("-"))
    ordering = column.desc(nulls_last=True) if key.startswith("-") else column.asc(nulls_last=True)
    total = buyers.count()
    page = list(buyers.order_by(ordering, "lead_id")[offset : offset + limit])
    people = {
        pk: (str(public_id), email)
        for pk, public_id, email in Lead.objects.filter(pk__in=[b.lead_id for b in page]).values_list(
            "pk", "public_id", "email"
        )
    }
    rows = []
    for buyer in page:
        public_id, email = people.get(buyer.lead_id, ("", ""))
        alive = buyer.alive
        future = buyer.predicted
        rows.append(
            BuyerValue(
                lead=public_id,
                email=email,
                currency=currency,
                orders=buyer.orders,
                first_day=buyer.first_day,
                last_day=buyer.last_day,
                net_minor=buyer.net_minor,
                p_alive=alive,
                activity=activity(alive) if alive is not None else "",
                expected_purchases=buyer.expected,
                predicted_minor=future,
                clv_minor=buyer.net_minor + (future or 0),
            )
        )
    return total, rows


def _uuid(text: str) -> bool:
    import uuid

    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
