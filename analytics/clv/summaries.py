"""Per-customer summaries (x, t_x, T, mean repeat value) from purchases, and their weighted compression."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

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


def _by_count(x: Array) -> tuple[Array, NDArray[np.intp]]:
    """The distinct purchase counts and each row's index among them: the special functions of the likelihoods depend
    on x alone, so they are evaluated once per distinct count (a few hundred) instead of once per row."""
    counts, index = np.unique(x, return_inverse=True)
    return counts, index.reshape(-1)


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
