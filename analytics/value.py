"""Lifetime value: each lead's history from the rollups, and the nightly fit that predicts every buyer's future.

A purchase occasion is a day with a positive net spend (orders of a day added, refunds and lost disputes taken off
the order they belong to), as in the cohorts and RFM. Each currency is fitted on its own; a fit that cannot be
trusted (too few repeat buyers, no convergence) is recorded with its reason and its predictions are not shown.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Sum
from django.utils import timezone
from numpy.typing import NDArray

from analytics.clv import (
    ConstantSpend,
    CustomerSummaries,
    ModelNotUsable,
    compress,
    fit_bgnbd,
    fit_spend,
    score,
    summarize_arrays,
)
from analytics.models import ClvFit, CustomerValue, OrderFact

HOLDOUT_DAYS = 90


@dataclass(frozen=True, slots=True)
class Occasions:
    """Columns of (lead, day number, net) for every day a lead bought something that kept a positive net."""

    lead: NDArray[np.int64]
    day: NDArray[np.int64]
    net: NDArray[np.float64]

    def summaries(self, end: dt.date) -> tuple[NDArray[np.integer], CustomerSummaries]:
        leads, x, t_x, T, mean_value = summarize_arrays(
            self.lead, self.day, self.net, calibration_end=end.toordinal(), unit="day"
        )
        ids = [str(lead) for lead in leads]
        return leads, CustomerSummaries(customer_ids=ids, x=x, t_x=t_x, T=T, mean_value=mean_value)


def occasions(currency: str) -> Occasions:
    """Each lead's purchase days in ``currency``, net of refunds and lost disputes (the database adds up the day)."""
    rows = (
        OrderFact.objects.filter(currency=currency)
        .values("lead_id", "day")
        .annotate(net=Sum("gross_minor") - Sum("refunds_minor"))
        .filter(net__gt=0)
        .values_list("lead_id", "day", "net")
    )
    leads, days, nets = [], [], []
    for lead, day, net in rows.iterator(chunk_size=20_000):
        leads.append(lead)
        days.append(day.toordinal())
        nets.append(net)
    return Occasions(
        lead=np.array(leads, dtype=np.int64), day=np.array(days, dtype=np.int64), net=np.array(nets, dtype=np.float64)
    )


def _holdout(history: Occasions, today: dt.date) -> dict[str, object]:
    """Fit on all but the last ``HOLDOUT_DAYS`` days and compare the purchases it predicts for them with those made,
    for the buyers known before them."""
    end = today - dt.timedelta(days=HOLDOUT_DAYS)
    known, before = history.summaries(end)
    if not len(known):
        return {"days": HOLDOUT_DAYS, "skipped": "no buyers before the holdout period"}
    try:
        model = fit_bgnbd(compress(before.x, before.t_x, before.T), min_repeat_customers=1)
    except ModelNotUsable as refused:
        return {"days": HOLDOUT_DAYS, "skipped": str(refused)}
    later = (history.day > end.toordinal()) & (history.day <= today.toordinal()) & np.isin(history.lead, known)
    actual = len(set(zip(history.lead[later].tolist(), history.day[later].tolist(), strict=True)))
    predicted = float(model.expected_purchases(HOLDOUT_DAYS, before.x, before.t_x, before.T).sum())
    return {"days": HOLDOUT_DAYS, "customers": len(known), "predicted": round(predicted, 1), "actual": actual}


def clv_refresh_currency(*, currency: str, now: dt.datetime | None = None) -> ClvFit:
    """Fit ``currency``'s models on every buyer's purchase days up to today, record the fit, and score every buyer
    (their previous scores replaced in one transaction). An unusable fit removes the scores: leads then show their
    history only, and the fit says why."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    horizon, discount = settings.CLV_HORIZON_MONTHS, settings.CLV_MONTHLY_DISCOUNT
    history = occasions(currency)
    leads, data = history.summaries(today)
    fit = ClvFit(
        currency=currency,
        fitted_at=now,
        usable=False,
        customers=len(data.customer_ids),
        repeat_customers=int((data.x > 0).sum()),
        horizon_months=horizon,
        monthly_discount=discount,
    )
    started = time.perf_counter()
    try:
        purchases = fit_bgnbd(compress(data.x, data.t_x, data.T), min_repeat_customers=settings.CLV_MIN_REPEAT_BUYERS)
        spend = fit_spend(data.x, data.mean_value)
    except ModelNotUsable as refused:
        fit.reason = str(refused)[:300]
    else:
        fit.usable = True
        fit.r, fit.alpha, fit.a, fit.b, fit.bgnbd_loglik = (
            purchases.r, purchases.alpha, purchases.a, purchases.b, purchases.loglik,
        )  # fmt: skip
        if isinstance(spend, ConstantSpend):
            fit.constant_spend_minor = spend.amount
            fit.reason = (
                f"Spend per purchase does not differ between buyers here, so each purchase is valued at the average "
                f"repeat purchase ({spend.amount:.0f} minor units) rather than by the Gamma-Gamma model."
            )
        else:
            fit.p, fit.q, fit.gamma, fit.gamma_gamma_loglik = spend.p, spend.q, spend.gamma, spend.loglik
        fit.holdout = _holdout(history, today)
    fit.fit_seconds = round(time.perf_counter() - started, 3)
    with transaction.atomic():
        fit.save()
        CustomerValue.objects.filter(currency=currency).delete()
        if fit.usable:
            scores = score(
                purchases, spend, x=data.x, t_x=data.t_x, T=data.T, mean_value=data.mean_value,
                months=horizon, monthly_discount=discount, unit="day",
            )  # fmt: skip
            CustomerValue.objects.bulk_create(
                (
                    CustomerValue(
                        lead_id=int(lead),
                        currency=currency,
                        fit=fit,
                        p_alive=float(scores.p_alive[i]),
                        expected_purchases=float(scores.expected_purchases[i]),
                        predicted_value_minor=int(np.rint(scores.predicted_value[i])),
                        scored_at=now,
                    )
                    for i, lead in enumerate(leads.tolist())
                ),
                batch_size=5000,
            )
    return fit


def clv_refresh(*, progress: Callable[[int], None] | None = None) -> list[ClvFit]:
    """The nightly refresh: every currency buyers paid in, fitted and scored."""
    fits = []
    for currency in OrderFact.objects.values_list("currency", flat=True).distinct().order_by("currency"):
        fits.append(clv_refresh_currency(currency=currency))
        if progress is not None:
            progress(1)
    return fits


# --- what a lead's page shows ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class LeadValue:
    currency: str
    orders: int
    first_day: dt.date
    last_day: dt.date
    gross_minor: int
    refunds_minor: int
    net_minor: int
    p_alive: float | None = None
    status: str = ""  # likely active, at risk, lapsed
    expected_purchases: float | None = None
    predicted_value_minor: int | None = None
    horizon_months: int | None = None
    scored_at: dt.datetime | None = None
    not_predicted_because: str = ""


def activity(p_alive: float) -> str:
    """How p(alive) reads to sales: likely active from 0.7, at risk from 0.3, lapsed below."""
    return "likely active" if p_alive >= 0.7 else "at risk" if p_alive >= 0.3 else "lapsed"


def lead_value(*, lead_id: int) -> list[LeadValue]:
    """The lead's paid orders per currency (history), with their prediction or why there is none."""
    history = (
        OrderFact.objects.filter(lead_id=lead_id)
        .values("currency")
        .annotate(
            orders=Count("order_id"),
            first=Min("day"),
            last=Max("day"),
            gross=Sum("gross_minor"),
            refunds=Sum("refunds_minor"),
        )
        .order_by("currency")
    )
    scores = {v.currency: v for v in CustomerValue.objects.filter(lead_id=lead_id).select_related("fit")}
    latest: dict[str, ClvFit] = {}
    for fit in ClvFit.objects.filter(currency__in=[row["currency"] for row in history]).order_by("-fitted_at"):
        latest.setdefault(fit.currency, fit)
    out = []
    for row in history:
        score, last_fit = scores.get(row["currency"]), latest.get(row["currency"])
        reason = ""
        if score is None:
            reason = (
                "No prediction yet: the nightly fit has not run."
                if last_fit is None
                else last_fit.reason or "Not scored: no order kept a positive net."
            )
        out.append(
            LeadValue(
                currency=row["currency"],
                orders=row["orders"],
                first_day=row["first"],
                last_day=row["last"],
                gross_minor=row["gross"],
                refunds_minor=row["refunds"],
                net_minor=row["gross"] - row["refunds"],
                p_alive=score.p_alive if score else None,
                status=activity(score.p_alive) if score else "",
                expected_purchases=score.expected_purchases if score else None,
                predicted_value_minor=score.predicted_value_minor if score else None,
                horizon_months=score.fit.horizon_months if score else None,
                scored_at=score.scored_at if score else None,
                not_predicted_because=reason,
            )
        )
    return out
