"""Each customer's p(alive), expected purchases and discounted value over a horizon."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.clv.bgnbd import BgNbd
from analytics.clv.spend import ConstantSpend, GammaGamma
from analytics.clv.summaries import Array, compress

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
