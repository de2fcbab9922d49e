"""The Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee 2005, "RFM and CLV"), and its constant limit."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from analytics.clv.fitting import _minimize
from analytics.clv.summaries import Array, ModelNotUsable, _by_count


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
    return _gamma_gamma_loglik_and_gradient(params, x, mean_value, weight, gradient=False)[0]


def _gamma_gamma_loglik_and_gradient(
    params: Array,
    x: Array,
    mean_value: Array,
    weight: Array,
    *,
    gradient: bool = True,
    by_count: tuple[Array, NDArray[np.intp]] | None = None,
) -> tuple[float, Array]:
    """Σ weight · ln L(p, q, γ | x, mean value) and its gradient with respect to ln p, ln q, ln γ."""
    p, q, gamma = np.exp(params)
    counts, index = by_count if by_count is not None else _by_count(x)
    px = p * x
    log_m, log_mx = np.log(mean_value), np.log(gamma + mean_value * x)
    per_count = special.gammaln(p * counts + q) - special.gammaln(p * counts) + p * counts * np.log(counts)
    per_row = per_count[index] - special.gammaln(q) + q * math.log(gamma) + (px - 1) * log_m - (px + q) * log_mx
    loglik = float(np.dot(weight, per_row))
    if not gradient:
        return loglik, np.zeros(3)
    psi_pxq = special.digamma(p * counts + q)
    d_p = x * ((psi_pxq - special.digamma(p * counts) + np.log(counts))[index] + log_m - log_mx)
    d_q = (psi_pxq - special.digamma(q))[index] + math.log(gamma) - log_mx
    d_gamma = q / gamma - (px + q) / (gamma + mean_value * x)
    grad = np.array([np.dot(weight, d) for d in (d_p, d_q, d_gamma)]) * np.array([p, q, gamma])
    return loglik, grad


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

    def objective_on(pick: NDArray[np.intp] | None) -> Callable[[Array], tuple[float, Array]]:
        rows_x, rows_value, rows_weight = x, values, weight
        if pick is not None:
            rows_x, rows_value, rows_weight = x[pick], values[pick], weight[pick] * (len(x) / len(pick))
        by_count = _by_count(rows_x)

        def objective(params: Array) -> tuple[float, Array]:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                loglik, grad = _gamma_gamma_loglik_and_gradient(
                    np.clip(params, -30, 30), rows_x, rows_value, rows_weight, by_count=by_count
                )
            if not math.isfinite(loglik) or not np.all(np.isfinite(grad)):
                return math.inf, np.zeros(3)
            return -loglik / total, -grad / total

        return objective

    result = _minimize(objective_on, len(x), np.zeros(3))
    p, q, gamma = np.exp(result.x)
    gamma *= scale
    converged = (
        math.isfinite(result.fun) and float(np.max(np.abs(result.jac))) <= 1e-4 and np.all(np.abs(result.x) < 30)
    )
    if not all(math.isfinite(v) for v in (p, q, gamma)) or not converged:
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
