"""Split-test statistics: Welch from sufficient statistics equals scipy on the same numbers, and the always-valid
interval keeps false winners under 5 % when an A/A test is looked at every day."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from analytics.stats import Sample, compare, holm, sample_ratio_p, sequential_interval, welch


def sample(values):
    values = np.asarray(values, dtype=float)
    return Sample(n=len(values), total=float(values.sum()), total_squares=float((values * values).sum()))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_welch_from_sufficient_statistics_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    control = rng.choice([0, 0, 0, 2400, 700, 12100], size=900)
    treatment = rng.choice([0, 0, 0, 2400, 2400, 12100], size=1100)
    t, df, p, low, high = welch(sample(control), sample(treatment))
    expected = scipy_stats.ttest_ind(treatment, control, equal_var=False)
    assert t == pytest.approx(expected.statistic, rel=1e-9)
    assert p == pytest.approx(expected.pvalue, rel=1e-9)
    assert df == pytest.approx(expected.df, rel=1e-9)
    interval = expected.confidence_interval(0.95)
    assert (low, high) == (pytest.approx(interval.low, rel=1e-9), pytest.approx(interval.high, rel=1e-9))
    from_stats = scipy_stats.ttest_ind_from_stats(
        treatment.mean(), treatment.std(ddof=1), len(treatment), control.mean(), control.std(ddof=1), len(control),
        equal_var=False,
    )  # fmt: skip
    assert p == pytest.approx(from_stats.pvalue, rel=1e-9)


def test_the_sequential_interval_is_wider_than_the_fixed_one_and_narrows_with_data():
    rng = np.random.default_rng(7)
    small = [sample(rng.normal(100, 30, 200)) for _ in range(2)]
    large = [sample(rng.normal(100, 30, 20000)) for _ in range(2)]
    _, _, _, low, high = welch(*small)
    seq_low, seq_high = sequential_interval(*small)
    big_low, big_high = sequential_interval(*large)
    assert None not in (low, high, seq_low, seq_high, big_low, big_high)
    assert seq_low < low  # type: ignore[operator]
    assert seq_high > high  # type: ignore[operator]
    assert big_high - big_low < (seq_high - seq_low) / 5  # type: ignore[operator]


def test_daily_looks_at_an_aa_test_rarely_crown_a_winner():
    """1,000 A/A tests of 30 days, 200 visitors a variant a day, buying 3 % of the time with refunds; a "winner" is
    any day whose always-valid interval excludes zero. Peeking at the fixed-horizon p-value is shown for contrast."""
    rng = np.random.default_rng(2026)
    tests, days, per_day = 1000, 30, 200
    sequential_false, peeking_false = 0, 0
    for _ in range(tests):
        totals = np.zeros((2, 3))
        seq_hit = peek_hit = False
        for _ in range(days):
            for arm in range(2):
                buys = rng.random(per_day) < 0.03
                value = np.where(buys, 2700 + np.where(rng.random(per_day) < 0.35, 1700, 0), 0)
                value = np.where(rng.random(per_day) < 0.08, 0, value)  # refunded in full
                totals[arm] += (per_day, value.sum(), (value.astype(float) ** 2).sum())
            control, treatment = (Sample(n=int(a[0]), total=a[1], total_squares=a[2]) for a in totals)
            result = compare(control, treatment, planned=days * per_day)
            low, high = result.sequential_low, result.sequential_high
            if low is not None and high is not None and (low > 0 or high < 0):
                seq_hit = True
            if result.p_value is not None and result.p_value < 0.05:
                peek_hit = True
        sequential_false += seq_hit
        peeking_false += peek_hit
    assert sequential_false / tests < 0.05
    assert peeking_false / tests > 0.10  # what the sequential interval protects against


def test_holm_and_sample_ratio():
    assert holm([0.01, 0.04, None, 0.03]) == [0.03, 0.06, None, 0.06]
    assert sample_ratio_p([500, 500], [1, 1]) == pytest.approx(1.0)
    assert (sample_ratio_p([600, 400], [1, 1]) or 1) < 0.001
    assert sample_ratio_p([0, 0], [1, 1]) is None
