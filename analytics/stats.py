"""Split-test statistics from sufficient statistics (n, Σy, Σy²) per variant: no visitor-level rows needed.

* Welch's t-test on the difference in mean net revenue per visitor (unequal variances, Welch–Satterthwaite
  degrees of freedom): the fixed-horizon p-value and confidence interval, equal to
  ``scipy.stats.ttest_ind_from_stats(..., equal_var=False)``.
* An always-valid confidence sequence for the same difference (the normal-mixture boundary of Waudby-Smith et
  al., arXiv 2103.06476, in the form GrowthBook's engine uses): with tuning ``N*`` (the planned sample),
  ``ρ² = (−2 ln α + ln(−2 ln α + 1)) / N*`` and the half-width
  ``σ̂ · sqrt(2 (Nρ² + 1) / (N² ρ²) · ln(sqrt(Nρ² + 1) / α))`` where σ̂² is the per-visitor variance of the
  difference. It holds its coverage however often it is looked at, so a winner is declared only when it excludes 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats as scipy_stats


@dataclass(frozen=True, slots=True)
class Sample:
    """Sufficient statistics of one variant's per-visitor values (minor units)."""

    n: int
    total: float  # Σy
    total_squares: float  # Σy²

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """The unbiased sample variance (n − 1 in the denominator); 0 below two visitors."""
        if self.n < 2:
            return 0.0
        return max((self.total_squares - self.total * self.total / self.n) / (self.n - 1), 0.0)


@dataclass(frozen=True, slots=True)
class Comparison:
    difference: float  # mean(treatment) − mean(control)
    t: float | None
    degrees_of_freedom: float | None
    p_value: float | None
    ci_low: float | None  # fixed-horizon 1 − α interval
    ci_high: float | None
    sequential_low: float | None  # always-valid 1 − α interval
    sequential_high: float | None


def welch(
    control: Sample, treatment: Sample, *, alpha: float = 0.05
) -> tuple[float | None, float | None, float | None, float | None, float | None]:
    """(t, df, two-sided p, CI low, CI high) of Welch's test of treatment − control; Nones when undefined."""
    if control.n < 2 or treatment.n < 2:
        return None, None, None, None, None
    a, b = control.variance / control.n, treatment.variance / treatment.n
    standard_error = math.sqrt(a + b)
    difference = treatment.mean - control.mean
    if standard_error == 0:
        return None, None, None, None, None
    df = (a + b) ** 2 / (a * a / (control.n - 1) + b * b / (treatment.n - 1))
    t = difference / standard_error
    p = float(2 * scipy_stats.t.sf(abs(t), df))
    margin = float(scipy_stats.t.ppf(1 - alpha / 2, df)) * standard_error
    return t, df, p, difference - margin, difference + margin


def sequential_interval(
    control: Sample, treatment: Sample, *, alpha: float = 0.05, planned: int = 10_000
) -> tuple[float | None, float | None]:
    """The always-valid 1 − α confidence sequence for treatment − control, tuned for ``planned`` visitors a variant."""
    if control.n < 2 or treatment.n < 2:
        return None, None
    n = control.n + treatment.n
    # Per-visitor variance of the difference in means, scaled so that variance / n is its squared standard error.
    variance = (control.variance / control.n + treatment.variance / treatment.n) * n
    if variance == 0:
        return None, None
    rho_squared = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / (2 * planned)
    half_width = math.sqrt(variance) * math.sqrt(
        2 * (n * rho_squared + 1) / (n * n * rho_squared) * math.log(math.sqrt(n * rho_squared + 1) / alpha)
    )
    difference = treatment.mean - control.mean
    return difference - half_width, difference + half_width


def compare(control: Sample, treatment: Sample, *, alpha: float = 0.05, planned: int = 10_000) -> Comparison:
    t, df, p, low, high = welch(control, treatment, alpha=alpha)
    seq_low, seq_high = sequential_interval(control, treatment, alpha=alpha, planned=planned)
    return Comparison(
        difference=treatment.mean - control.mean,
        t=t,
        degrees_of_freedom=df,
        p_value=p,
        ci_low=low,
        ci_high=high,
        sequential_low=seq_low,
        sequential_high=seq_high,
    )


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm–Bonferroni adjusted p-values (for several variants against one control), in the given order."""
    indexed = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running, m = 0.0, len(indexed)
    for rank, (p, index) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted


def sample_ratio_p(observed: list[int], weights: list[int]) -> float | None:
    """χ² goodness of fit of the visitors each variant got against the shares its weight promised (a sample-ratio
    mismatch below 0.001 means assignment or tracking is broken, not that a variant is better)."""
    total, weight = sum(observed), sum(weights)
    if total == 0 or weight == 0 or len(observed) < 2:
        return None
    expected = [total * w / weight for w in weights]
    if any(e == 0 for e in expected):
        return None
    return float(scipy_stats.chisquare(observed, expected).pvalue)
