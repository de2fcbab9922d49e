"""Customer lifetime value: the BG/NBD model of repeat purchases (Fader, Hardie & Lee 2005, "Counting your
customers the easy way") and the Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee 2005, "RFM and CLV"),
fitted by maximum likelihood on numpy/scipy.

Inputs are per-customer summaries in one time unit (days or weeks): x = repeat purchases (distinct purchase days
after the first), t_x = time from the first purchase to the last, T = time from the first purchase to the end of
the calibration period, and for Gamma-Gamma the mean value of the repeat purchases. Identical summaries are fitted
once with a weight (``compress``), so a million customers cost what their few hundred thousand distinct summaries do.
"""

from __future__ import annotations

from analytics.clv.bgnbd import BgNbd, bgnbd_loglik, fit_bgnbd
from analytics.clv.fitting import SAMPLE_ROWS
from analytics.clv.spend import ConstantSpend, GammaGamma, fit_gamma_gamma, fit_spend, gamma_gamma_loglik
from analytics.clv.summaries import (
    UNIT_DAYS,
    Array,
    CustomerSummaries,
    ModelNotUsable,
    Summaries,
    compress,
    summarize,
    summarize_arrays,
)
from analytics.clv.value import UNITS_PER_MONTH, Scores, predicted_value, score

__all__ = [
    "SAMPLE_ROWS",
    "UNITS_PER_MONTH",
    "UNIT_DAYS",
    "Array",
    "BgNbd",
    "ConstantSpend",
    "CustomerSummaries",
    "GammaGamma",
    "ModelNotUsable",
    "Scores",
    "Summaries",
    "bgnbd_loglik",
    "compress",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_spend",
    "gamma_gamma_loglik",
    "predicted_value",
    "score",
    "summarize",
    "summarize_arrays",
]
