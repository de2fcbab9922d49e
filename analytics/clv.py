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
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special

Array = NDArray[np.float64]


class ModelNotUsable(Exception):
    """The model cannot be trusted on this data; the message says why, for the person reading the lead page."""


# --- summaries ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summaries:
    """Column arrays of customer summaries, with how many customers each row stands for; ``inverse`` maps each
    customer (in the order given to ``compress``) to their row, so predictions made per row reach every customer."""

    x: Array
    t_x: Array
    T: Array
    weight: Array
    inverse: NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, dtype=np.intp))

    @property
    def customers(self) -> int:
        return int(self.weight.sum())

    @property
    def repeat_customers(self) -> int:
        return int(self.weight[self.x > 0].sum())


def compress(x: Array, t_x: Array, T: Array) -> Summaries:
    """Identical (x, t_x, T) rows become one row with a weight: the likelihood is the same, the work far smaller."""
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    if not len(x):
        return Summaries(x=x, t_x=t_x, T=T, weight=np.zeros(0), inverse=np.zeros(0, dtype=np.intp))
    order = np.lexsort((T, t_x, x))
    xs, ts, Ts = x[order], t_x[order], T[order]
    starts = np.empty(len(x), dtype=bool)
    starts[0] = True
    starts[1:] = (xs[1:] != xs[:-1]) | (ts[1:] != ts[:-1]) | (Ts[1:] != Ts[:-1])
    group = np.cumsum(starts) - 1
    inverse = np.empty(len(x), dtype=np.intp)
    inverse[order] = group
    first = np.flatnonzero(starts)
    weight = np.diff(np.append(first, len(x))).astype(np.float64)
    return Summaries(x=xs[first], t_x=ts[first], T=Ts[first], weight=weight, inverse=inverse)


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
    return _bgnbd_loglik_and_gradient(params, data, gradient=False)[0]


def _by_count(x: Array) -> tuple[Array, NDArray[np.intp]]:
    """The distinct purchase counts and each row's index among them: the special functions of the likelihoods depend
    on x alone, so they are evaluated once per distinct count (a few hundred) instead of once per row."""
    counts, index = np.unique(x, return_inverse=True)
    return counts, index.reshape(-1)


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


SAMPLE_ROWS = 50_000  # above four times this, a fit starts from the answer on a sample of this many rows


def _minimize(
    objective_on: Callable[[NDArray[np.intp] | None], Callable[[Array], tuple[float, Array]]], rows: int, start: Array
) -> optimize.OptimizeResult:
    """Quasi-Newton on the analytic gradient. ``objective_on(pick)`` is the objective over the rows ``pick`` (weights
    scaled up, so a uniform sample of rows estimates the whole sum without bias), or over all rows for None.

    Few rows: fitted directly, then restarted once from the answer (a restart resets the curvature estimate, which
    settles the last digits). Many rows: fitted on a sample first; the whole data then takes the last steps from
    there, in coordinates where the sample's curvature is the identity (its Hessian's Cholesky factor), so each of
    those costly steps is nearly a Newton step."""
    options = {"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-9}
    objective = objective_on(None)
    if rows <= 4 * SAMPLE_ROWS:
        result = optimize.minimize(objective, x0=start, jac=True, method="L-BFGS-B", options=options)
        return optimize.minimize(
            objective, x0=result.x, jac=True, method="L-BFGS-B", options={**options, "gtol": 1e-10}
        )
    sampled = objective_on(np.sort(np.random.default_rng(rows).choice(rows, SAMPLE_ROWS, replace=False)))
    near = optimize.minimize(sampled, x0=start, jac=True, method="L-BFGS-B", options=options).x
    h = 1e-5  # central differences of the analytic gradient
    hessian = np.array([(sampled(near + h * e)[1] - sampled(near - h * e)[1]) / (2 * h) for e in np.eye(len(near))])
    try:
        to_params = np.linalg.inv(np.linalg.cholesky((hessian + hessian.T) / 2).T)
    except np.linalg.LinAlgError:
        to_params = np.eye(len(near))

    def whitened(z: Array) -> tuple[float, Array]:
        value, grad = objective(near + to_params @ z)
        return value, to_params.T @ grad

    # The sample's curvature is nearly the whole data's, so z − ∇ is nearly the Newton step; a step that does not
    # lower the objective is halved. Stops at a gradient of 1e-9, or when no step lowers it (the sum's rounding).
    z = np.zeros(len(near))
    value, grad = whitened(z)
    for _ in range(100):
        if float(np.max(np.abs(grad))) <= 1e-9:
            break
        step, lowered = -grad, False
        for _ in range(6):
            trial_value, trial_grad = whitened(z + step)
            if trial_value < value:
                z, value, grad, lowered = z + step, trial_value, trial_grad, True
                break
            step = step / 2
        if not lowered:
            break
    best = near + to_params @ z
    value, grad = objective(best)
    return optimize.OptimizeResult(x=best, fun=value, jac=grad, success=True)


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
    return score(
        purchases, spend, x=x, t_x=t_x, T=T, mean_value=mean_value, months=months,
        monthly_discount=monthly_discount, unit=unit,
    ).predicted_value  # fmt: skip


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
    purchase to the last and to the calibration end, and the mean value of the repeat days. Customers come sorted."""
    if not transactions:
        empty = np.zeros(0)
        return CustomerSummaries(customer_ids=[], x=empty, t_x=empty, T=empty, mean_value=empty)
    names, codes = np.unique(np.array([c for c, _, _ in transactions], dtype=object).astype(str), return_inverse=True)
    days = np.fromiter((d.toordinal() for _, d, _ in transactions), dtype=np.int64, count=len(transactions))
    amounts = np.fromiter((a for _, _, a in transactions), dtype=np.float64, count=len(transactions))
    present, x, t_x, T, mean_value = summarize_arrays(
        codes, days, amounts, calibration_end=calibration_end.toordinal(), unit=unit
    )
    return CustomerSummaries(customer_ids=[str(n) for n in names[present]], x=x, t_x=t_x, T=T, mean_value=mean_value)


def summarize_arrays(
    customer: NDArray[np.integer], day: NDArray[np.integer], amount: Array, *, calibration_end: int, unit: str = "day"
) -> tuple[NDArray[np.integer], Array, Array, Array, Array]:
    """``summarize`` on columns: integer customer codes, day numbers and amounts of any order and length (a sort and
    a few passes, so ten million rows take seconds). Returns the customers present in ascending code order with
    their x, t_x, T and mean repeat value."""
    if len(day) and int(day.max()) > calibration_end:
        keep = day <= calibration_end
        customer, day, amount = customer[keep], day[keep], amount[keep]
    if not len(customer):
        empty = np.zeros(0)
        return np.zeros(0, dtype=np.int64), empty, empty, empty, empty
    # One sort on a (customer, day) key: a day number below ``span`` under the customer's code.
    earliest = int(day.min())
    span = calibration_end - earliest + 1
    if int(customer.min()) < 0 or int(customer.max()) >= (2**62) // span:
        raise ValueError("customer codes must be non-negative and below 2**62 / the days spanned")
    # Ten million rows are a few hundred megabytes a column, so each step frees what it no longer needs.
    key = customer.astype(np.int64)
    key *= span
    key += day
    key -= earliest
    order = np.argsort(key)
    amount = np.asarray(amount, dtype=np.float64)[order]
    del order
    key.sort()
    new_day = np.empty(len(key), dtype=bool)  # first row of each (customer, day)
    new_day[0] = True
    np.not_equal(key[1:], key[:-1], out=new_day[1:])
    starts = np.flatnonzero(new_day)
    del new_day
    day_amount = np.add.reduceat(amount, starts)
    del amount
    day_number = key[starts]
    del key
    day_customer = np.empty_like(day_number)
    np.divmod(day_number, span, out=(day_customer, day_number))
    day_number += earliest
    first_of_customer = np.empty(len(starts), dtype=bool)
    first_of_customer[0] = True
    first_of_customer[1:] = day_customer[1:] != day_customer[:-1]
    customer_starts = np.flatnonzero(first_of_customer)
    customer_ends = np.append(customer_starts[1:], len(starts)) - 1
    size = UNIT_DAYS[unit]
    first, last = day_number[customer_starts], day_number[customer_ends]
    x = (customer_ends - customer_starts).astype(np.float64)
    repeat_total = np.add.reduceat(day_amount, customer_starts) - day_amount[customer_starts]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_value = np.where(x > 0, repeat_total / np.maximum(x, 1), 0.0)
    return (
        day_customer[customer_starts],
        x,
        (last - first) / size,
        (calibration_end - first) / size,
        mean_value,
    )


# --- scoring --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scores:
    p_alive: Array
    expected_purchases: Array  # over the horizon
    predicted_value: Array  # discounted, over the horizon


def score(
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
) -> Scores:
    """p(alive), expected purchases and predicted value over ``months`` for every customer. The purchase model's parts
    depend on (x, t_x, T) only, so they are computed once per distinct summary and spread to the customers."""
    rows = compress(x, t_x, T)
    alive = purchases.p_alive(rows.x, rows.t_x, rows.T)
    per_month = UNITS_PER_MONTH[unit]
    discounted = np.zeros(len(rows.x))
    previous = np.zeros(len(rows.x))
    for month in range(1, months + 1):
        cumulative = purchases.expected_purchases(month * per_month, rows.x, rows.t_x, rows.T)
        discounted += (cumulative - previous) / (1 + monthly_discount) ** month
        previous = cumulative
    value = spend.expected_value(x, mean_value)
    return Scores(
        p_alive=alive[rows.inverse],
        expected_purchases=previous[rows.inverse],
        predicted_value=discounted[rows.inverse] * value,
    )
