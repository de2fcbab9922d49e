"""Customer lifetime value: the BG/NBD model of repeat purchases (Fader, Hardie & Lee 2005, "Counting your
customers the easy way") and the Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee 2005, "RFM and CLV"),
fitted by maximum likelihood on numpy/scipy.

Inputs are per-customer summaries in one time unit (days or weeks): x = repeat purchases (distinct purchase days
after the first), t_x = time from the first purchase to the last, T = time from the first purchase to the end of
the calibration period, and for Gamma-Gamma the mean value of the repeat purchases. Identical summaries are fitted
once with a weight (``compress``), so a million customers cost what their few hundred thousand distinct summaries do.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special

Array = NDArray[np.float64]


class ModelNotUsable(Exception):
    """The model cannot be trusted on this data; the message says why, for the person reading the lead page."""


# --- summaries ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summaries:
    """Column arrays of customer summaries, with how many customers each row stands for."""

    x: Array
    t_x: Array
    T: Array
    weight: Array

    @property
    def customers(self) -> int:
        return int(self.weight.sum())

    @property
    def repeat_customers(self) -> int:
        return int(self.weight[self.x > 0].sum())


def compress(x: Array, t_x: Array, T: Array) -> Summaries:
    """Identical (x, t_x, T) rows become one row with a weight: the likelihood is the same, the work far smaller."""
    stacked = np.column_stack([x, t_x, T])
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return Summaries(x=unique[:, 0], t_x=unique[:, 1], T=unique[:, 2], weight=counts.astype(np.float64))


# --- BG/NBD ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float
    loglik: float

    def p_alive(self, x: Array, t_x: Array, T: Array) -> Array:
        """P(still a customer | x, t_x, T): 1 for no repeat purchase (the model's assumption: drop-out follows a
        purchase), else 1 / (1 + a / (b + x − 1) · ((α + T) / (α + t_x))^(r + x))."""
        x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = (self.a / (self.b + x - 1)) * np.exp(
                (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x))
            )
        return np.where(x > 0, 1.0 / (1.0 + odds), 1.0)

    def expected_purchases(self, t: float | Array, x: Array, t_x: Array, T: Array) -> Array:
        """E[purchases in the next ``t`` | x, t_x, T] (the paper's equation 10)."""
        x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
        t = np.asarray(t, dtype=np.float64)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t / (alpha + T + t)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        first = (a + b + x - 1) / (a - 1)
        second = 1 - np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t))) * hyp
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = (a / (b + x - 1)) * np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + t_x)))
        denominator = 1 + np.where(x > 0, odds, 0.0)
        return first * second / denominator

    def expected_purchases_new(self, t: float | Array) -> Array:
        """E[purchases in ``t`` by a customer just acquired] (the paper's equation 9)."""
        t = np.asarray(t, dtype=np.float64)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)


def bgnbd_loglik(params: Array, data: Summaries) -> float:
    """Σ weight · ln L(r, α, a, b | x, t_x, T), with the parameters given as their logarithms."""
    r, alpha, a, b = np.exp(params)
    x, t_x, T, w = data.x, data.t_x, data.T, data.weight
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    beta_ab = special.betaln(a, b)
    no_dropout = special.betaln(a, b + x) - beta_ab - (r + x) * np.log(alpha + T)
    with np.errstate(invalid="ignore", divide="ignore"):
        dropout = special.betaln(a + 1, np.maximum(b + x - 1, 1e-300)) - beta_ab - (r + x) * np.log(alpha + t_x)
    per_row = common + np.where(x > 0, np.logaddexp(no_dropout, dropout), no_dropout)
    return float(np.sum(w * per_row))


def fit_bgnbd(data: Summaries, *, min_repeat_customers: int = 0) -> BgNbd:
    """Maximum-likelihood r, α, a, b. Raises ModelNotUsable when there are too few repeat buyers or the fit does
    not converge to finite parameters."""
    if data.customers == 0:
        raise ModelNotUsable("No buyers to fit.")
    if data.repeat_customers < max(min_repeat_customers, 1):
        raise ModelNotUsable(
            f"Only {data.repeat_customers} repeat buyer(s); at least {max(min_repeat_customers, 1)} are needed."
        )
    scale = max(float(np.max(data.T)), 1.0)  # fit in a unit where T is about 1, then scale α back

    scaled = Summaries(x=data.x, t_x=data.t_x / scale, T=data.T / scale, weight=data.weight)
    result = optimize.minimize(
        lambda p: -bgnbd_loglik(p, scaled) / data.customers,
        x0=np.zeros(4),
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20_000, "maxfev": 40_000, "adaptive": True},
    )
    polished = optimize.minimize(lambda p: -bgnbd_loglik(p, scaled) / data.customers, x0=result.x, method="L-BFGS-B")
    best = polished if polished.fun <= result.fun else result
    r, alpha, a, b = np.exp(best.x)
    alpha *= scale
    if not all(math.isfinite(v) for v in (r, alpha, a, b)) or not (result.success or polished.success):
        raise ModelNotUsable("The purchase model did not converge on this data.")
    model = BgNbd(r=float(r), alpha=float(alpha), a=float(a), b=float(b), loglik=0.0)
    loglik = bgnbd_loglik(np.log([model.r, model.alpha, model.a, model.b]), data)
    return BgNbd(r=model.r, alpha=model.alpha, a=model.a, b=model.b, loglik=loglik)


# --- Gamma-Gamma ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GammaGamma:
    p: float
    q: float
    gamma: float
    loglik: float

    def expected_value(self, x: Array, mean_value: Array) -> Array:
        """E[value of a purchase | x, mean of the x repeat purchases]: a weighted mean of the population's
        (p γ / (q − 1)) and the customer's own, the more of their own the more they bought."""
        x, mean_value = np.asarray(x, dtype=np.float64), np.asarray(mean_value, dtype=np.float64)
        population = self.p * self.gamma / (self.q - 1)
        weight = self.p * x / (self.p * x + self.q - 1)
        return (1 - weight) * population + weight * mean_value


def gamma_gamma_loglik(params: Array, x: Array, mean_value: Array, weight: Array) -> float:
    p, q, gamma = np.exp(params)
    px = p * x
    per_row = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(mean_value)
        + px * np.log(x)
        - (px + q) * np.log(gamma + mean_value * x)
    )
    return float(np.sum(weight * per_row))


def fit_gamma_gamma(x: Array, mean_value: Array, weight: Array | None = None) -> GammaGamma:
    """Maximum-likelihood p, q, γ over customers with repeat purchases (x > 0) of positive mean value. Raises
    ModelNotUsable without such customers or when q ≤ 1 (the population mean spend would be undefined)."""
    x, mean_value = np.asarray(x, dtype=np.float64), np.asarray(mean_value, dtype=np.float64)
    weight = np.ones_like(x) if weight is None else np.asarray(weight, dtype=np.float64)
    keep = (x > 0) & (mean_value > 0)
    x, mean_value, weight = x[keep], mean_value[keep], weight[keep]
    if not len(x):
        raise ModelNotUsable("No repeat purchases to learn spend from.")
    scale = float(np.average(mean_value, weights=weight))  # fit in a unit of the mean spend, then scale γ back
    values = mean_value / scale
    total = float(weight.sum())
    result = optimize.minimize(
        lambda prm: -gamma_gamma_loglik(prm, x, values, weight) / total,
        x0=np.zeros(3),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 20_000, "maxfev": 40_000, "adaptive": True},
    )
    p, q, gamma = np.exp(result.x)
    gamma *= scale
    if not all(math.isfinite(v) for v in (p, q, gamma)) or not result.success:
        raise ModelNotUsable("The spend model did not converge on this data.")
    if q <= 1:
        raise ModelNotUsable("The spend model found q ≤ 1, so the average spend is undefined.")
    loglik = gamma_gamma_loglik(np.log([p, q, gamma]), x, mean_value, weight)
    return GammaGamma(p=float(p), q=float(q), gamma=float(gamma), loglik=loglik)


@dataclass(frozen=True, slots=True)
class ConstantSpend:
    """Every purchase is worth the same (a single price point): Gamma-Gamma has no spread to learn from, and the
    value of a purchase is that amount."""

    amount: float

    def expected_value(self, x: Array, mean_value: Array) -> Array:
        return np.full_like(np.asarray(x, dtype=np.float64), self.amount)


def fit_spend(x: Array, mean_value: Array, weight: Array | None = None) -> GammaGamma | ConstantSpend:
    """Gamma-Gamma when buyers' spend differs from one buyer to another; otherwise (identical means, or a fit that
    runs to q → ∞, the limit where the model has no heterogeneity left) ``ConstantSpend`` at the average value of a
    repeat purchase, which is that limit's answer."""
    x, mean_value = np.asarray(x, dtype=np.float64), np.asarray(mean_value, dtype=np.float64)
    weight = np.ones_like(x) if weight is None else np.asarray(weight, dtype=np.float64)
    keep = (x > 0) & (mean_value > 0)
    if not keep.any():
        raise ModelNotUsable("No repeat purchases to learn spend from.")
    average = float(np.sum((x * mean_value * weight)[keep]) / np.sum((x * weight)[keep]))
    repeat = mean_value[keep]
    if float(repeat.max() - repeat.min()) <= 0.001 * float(repeat.mean()):
        return ConstantSpend(amount=average)
    try:
        return fit_gamma_gamma(x, mean_value, weight)
    except ModelNotUsable:
        return ConstantSpend(amount=average)


# --- value over a horizon -------------------------------------------------------------------------------------------

UNITS_PER_MONTH = {"day": 30.0, "week": 30.0 / 7.0}


def predicted_value(
    purchases: BgNbd,
    spend: GammaGamma | ConstantSpend,
    *,
    x: Array,
    t_x: Array,
    T: Array,
    mean_value: Array,
    months: int = 12,
    monthly_discount: float = 0.01,
    unit: str = "day",
) -> Array:
    """Expected value over the next ``months``: each month's expected purchases times the expected value of a
    purchase, discounted by ``monthly_discount`` a month (the first month's value discounted once)."""
    per_month = UNITS_PER_MONTH[unit]
    value = spend.expected_value(x, mean_value)
    total = np.zeros_like(np.asarray(x, dtype=np.float64))
    previous = np.zeros_like(total)
    for month in range(1, months + 1):
        cumulative = purchases.expected_purchases(month * per_month, x, t_x, T)
        total += (cumulative - previous) * value / (1 + monthly_discount) ** month
        previous = cumulative
    return total


# --- from transactions ----------------------------------------------------------------------------------------------

UNIT_DAYS = {"day": 1.0, "week": 7.0}


@dataclass(frozen=True, slots=True)
class CustomerSummaries:
    customer_ids: list[str]
    x: Array
    t_x: Array
    T: Array
    mean_value: Array  # mean value of the repeat purchase days (0 without one)


def summarize(
    transactions: list[tuple[str, dt.date, float]], *, calibration_end: dt.date, unit: str = "day"
) -> CustomerSummaries:
    """Per customer, from (customer, day, amount) rows up to ``calibration_end`` (included): purchases on the same day
    count once, with their amounts added; x = purchase days after the first, t_x and T in ``unit`` from the first
    purchase to the last and to the calibration end, and the mean value of the repeat days."""
    days: dict[str, dict[dt.date, float]] = {}
    for customer, day, amount in transactions:
        if day <= calibration_end:
            per_day = days.setdefault(customer, {})
            per_day[day] = per_day.get(day, 0.0) + amount
    size = UNIT_DAYS[unit]
    ids = sorted(days)
    x, t_x, T, mean_value = (np.zeros(len(ids)) for _ in range(4))
    for index, customer in enumerate(ids):
        ordered = sorted(days[customer].items())
        first, last = ordered[0][0], ordered[-1][0]
        x[index] = len(ordered) - 1
        t_x[index] = (last - first).days / size
        T[index] = (calibration_end - first).days / size
        repeat = [amount for _, amount in ordered[1:]]
        mean_value[index] = sum(repeat) / len(repeat) if repeat else 0.0
    return CustomerSummaries(customer_ids=ids, x=x, t_x=t_x, T=T, mean_value=mean_value)
