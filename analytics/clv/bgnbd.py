"""The BG/NBD model of repeat purchases (Fader, Hardie & Lee 2005, "Counting your customers the easy way")."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from analytics.clv.fitting import _minimize
from analytics.clv.summaries import Array, ModelNotUsable, Summaries, _by_count


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
    return _bgnbd_loglik_and_gradient(params, data, gradient=False)[0]


def _bgnbd_loglik_and_gradient(
    params: Array, data: Summaries, *, gradient: bool = True, by_count: tuple[Array, NDArray[np.intp]] | None = None
) -> tuple[float, Array]:
    """The log-likelihood and its gradient with respect to the logarithms of r, α, a, b.

    Per customer ln L = ln Γ(r+x) − ln Γ(r) + r ln α − ln B(a, b) + ln(e^D₁ + [x>0] e^D₂) with
    D₁ = ln B(a, b+x) − (r+x) ln(α+T) (still alive) and D₂ = ln B(a+1, b+x−1) − (r+x) ln(α+t_x) (dropped out after
    the last purchase); the derivatives weight each branch by its share w₁, w₂ of the sum."""
    r, alpha, a, b = np.exp(params)
    x, t_x, T, w = data.x, data.t_x, data.T, data.weight
    counts, index = by_count if by_count is not None else _by_count(x)
    repeat_count = counts > 0
    safe_b = np.where(repeat_count, b + counts - 1, 1.0)
    log_alpha_T, log_alpha_tx = np.log(alpha + T), np.log(alpha + t_x)
    d1 = special.betaln(a, b + counts)[index] - (r + x) * log_alpha_T
    d2 = np.where(repeat_count, special.betaln(a + 1, safe_b), -np.inf)[index] - (r + x) * log_alpha_tx
    both = np.logaddexp(d1, d2)
    per_count = special.gammaln(r + counts) - special.gammaln(r) + r * math.log(alpha) - special.betaln(a, b)
    loglik = float(np.dot(w, per_count[index] + both))
    if not gradient:
        return loglik, np.zeros(4)
    w1, w2 = np.exp(d1 - both), np.exp(d2 - both)
    psi_abx = special.digamma(a + b + counts)
    psi_a, psi_b, psi_ab = special.digamma(a), special.digamma(b), special.digamma(a + b)
    psi_bx1 = np.where(repeat_count, special.digamma(safe_b), 0.0)
    d_r = (special.digamma(r + counts) - special.digamma(r) + math.log(alpha))[index] - w1 * log_alpha_T
    d_r -= w2 * log_alpha_tx
    d_alpha = r / alpha - (r + x) * (w1 / (alpha + T) + w2 / (alpha + t_x))
    d_a = -(psi_a - psi_ab) + w1 * (psi_a - psi_abx)[index] + w2 * (special.digamma(a + 1) - psi_abx)[index]
    d_b = -(psi_b - psi_ab) + w1 * (special.digamma(b + counts) - psi_abx)[index] + w2 * (psi_bx1 - psi_abx)[index]
    grad = np.array([np.dot(w, d) for d in (d_r, d_alpha, d_a, d_b)]) * np.array([r, alpha, a, b])
    return loglik, grad


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
    customers = data.customers

    def objective_on(pick: NDArray[np.intp] | None) -> Callable[[Array], tuple[float, Array]]:
        rows = Summaries(x=data.x, t_x=data.t_x / scale, T=data.T / scale, weight=data.weight)
        if pick is not None:
            factor = len(data.x) / len(pick)
            rows = Summaries(x=rows.x[pick], t_x=rows.t_x[pick], T=rows.T[pick], weight=rows.weight[pick] * factor)
        by_count = _by_count(rows.x)

        def objective(params: Array) -> tuple[float, Array]:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                loglik, grad = _bgnbd_loglik_and_gradient(np.clip(params, -30, 30), rows, by_count=by_count)
            if not math.isfinite(loglik) or not np.all(np.isfinite(grad)):
                return math.inf, np.zeros(4)
            return -loglik / customers, -grad / customers

        return objective

    best = _minimize(objective_on, len(data.x), np.zeros(4))
    r, alpha, a, b = np.exp(best.x)
    alpha *= scale
    converged = math.isfinite(best.fun) and float(np.max(np.abs(best.jac))) <= 1e-4 and np.all(np.abs(best.x) < 30)
    if not all(math.isfinite(v) for v in (r, alpha, a, b)) or not converged:
        raise ModelNotUsable("The purchase model did not converge on this data.")
    loglik = bgnbd_loglik(np.log([r, alpha, a, b]), data)
    return BgNbd(r=float(r), alpha=float(alpha), a=float(a), b=float(b), loglik=loglik)
