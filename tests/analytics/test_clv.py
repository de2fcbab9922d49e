"""The CLV models against the published numbers and against ``lifetimes`` (the reference implementation, a test
dependency only), on the CDNOW sample it ships; simulated customers; and the clv_fit command's bad input."""

import datetime as dt
import json
import warnings
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from analytics.clv import (
    SAMPLE_ROWS,
    BgNbd,
    GammaGamma,
    compress,
    fit_bgnbd,
    fit_gamma_gamma,
    predicted_value,
    score,
    summarize,
    summarize_arrays,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # lifetimes warns on import with current pandas
    import lifetimes
    import pandas as pd
    from lifetimes.datasets import load_dataset

CDNOW = Path(lifetimes.__file__).parent / "datasets" / "CDNOW_sample.txt"
PAPER_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PAPER_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}


@pytest.fixture(scope="module")
def cdnow_csv(tmp_path_factory):
    """The CDNOW sample as the command reads it, made at test time from the installed package (never committed)."""
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.csv"
    lines = ["customer_id,date,amount"]
    for row in CDNOW.read_text().splitlines():
        _, customer, day, _, amount = row.split()
        lines.append(f"{customer},{day[:4]}-{day[4:6]}-{day[6:]},{amount}")
    path.write_text("\n".join(lines) + "\n")
    return path


def fit(path, *args):
    out = StringIO()
    call_command("clv_fit", "--transactions", str(path), *args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_the_cdnow_fit_reproduces_the_published_parameters(cdnow_csv):
    result = fit(cdnow_csv, "--calibration-end", "1997-09-30", "--time-unit", "week")
    assert (result["customers"], result["repeat_customers"]) == (2357, 946)
    for name, published in PAPER_BGNBD.items():
        assert result["bgnbd"][name] == pytest.approx(published, rel=0.01), name
    assert result["bgnbd"]["loglik"] == pytest.approx(-9582.4, abs=0.1)
    for name, published in PAPER_GG.items():
        assert result["gamma_gamma"][name] == pytest.approx(published, rel=0.01), name


def cdnow_summaries():
    rows = []
    for row in CDNOW.read_text().splitlines():
        _, customer, day, _, amount = row.split()
        rows.append((customer, dt.date(int(day[:4]), int(day[4:6]), int(day[6:])), float(amount)))
    return summarize(rows, calibration_end=dt.date(1997, 9, 30), unit="week")


def test_the_summaries_are_the_papers():
    ours = cdnow_summaries()
    theirs = load_dataset("cdnow_customers_summary_with_transactions.csv")
    assert np.array_equal(ours.x, theirs["x"].to_numpy())
    assert np.allclose(ours.t_x, theirs["t_x"].to_numpy(), atol=0.005)  # the file rounds to 2 places
    assert np.allclose(ours.T, theirs["T"].to_numpy(), atol=0.005)
    repeat = ours.x > 0
    assert np.allclose(ours.mean_value[repeat], theirs["zbar"].to_numpy()[repeat], atol=0.005)


def test_conditional_expectations_agree_with_lifetimes():
    data = cdnow_summaries()
    purchases = fit_bgnbd(compress(data.x, data.t_x, data.T))
    spend = fit_gamma_gamma(data.x, data.mean_value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = lifetimes.BetaGeoFitter()
        reference.params_ = pd.Series({"r": purchases.r, "alpha": purchases.alpha, "a": purchases.a, "b": purchases.b})
        expected = reference.conditional_expected_number_of_purchases_up_to_time(39, data.x, data.t_x, data.T)
        alive = reference.conditional_probability_alive(data.x, data.t_x, data.T)
        new = reference.expected_number_of_purchases_up_to_time(39)
        money = lifetimes.GammaGammaFitter()
        money.params_ = pd.Series({"p": spend.p, "q": spend.q, "v": spend.gamma})
        repeat = data.x > 0
        average = money.conditional_expected_average_profit(data.x[repeat], data.mean_value[repeat])
    assert np.allclose(purchases.expected_purchases(39, data.x, data.t_x, data.T), expected, atol=1e-4)
    assert np.allclose(purchases.p_alive(data.x, data.t_x, data.T), alive, atol=1e-4)
    assert purchases.expected_purchases_new(39) == pytest.approx(new, abs=1e-4)
    assert np.allclose(spend.expected_value(data.x[repeat], data.mean_value[repeat]), average, atol=1e-4)
    # The paper's worked example: x = 2, t_x = 30.43, T = 38.86.
    assert purchases.p_alive(np.array([2.0]), np.array([30.43]), np.array([38.86]))[0] == pytest.approx(
        0.7266, abs=1e-3
    )
    assert purchases.expected_purchases(39, np.array([2.0]), np.array([30.43]), np.array([38.86]))[0] == pytest.approx(
        1.2259, abs=1e-3
    )


def simulate(rng, model: BgNbd, spend: GammaGamma, customers: int, horizon: float, holdout: float):
    """BG/NBD's story, customer by customer: a purchase rate λ ~ Gamma(r, α), a drop-out chance p ~ Beta(a, b) after
    each purchase; spend per purchase Gamma(p, ν) with ν ~ Gamma(q, γ). Returns calibration summaries and the
    holdout purchases."""
    lam = rng.gamma(model.r, 1 / model.alpha, customers)
    drop = rng.beta(model.a, model.b, customers)
    nu = rng.gamma(spend.q, 1 / spend.gamma, customers)
    start = rng.uniform(0, horizon * 0.75, customers)
    x, t_x, T, mean_value, future = (np.zeros(customers) for _ in range(5))
    for i in range(customers):
        t, times, values = start[i], [start[i]], []
        while True:
            t += rng.exponential(1 / lam[i])
            if t > horizon + holdout:
                break
            times.append(t)
            values.append(rng.gamma(spend.p, 1 / nu[i]))
            if rng.random() < drop[i]:
                break
        calibration = [s for s in times if s <= horizon]
        x[i] = len(calibration) - 1
        t_x[i] = calibration[-1] - start[i]
        T[i] = horizon - start[i]
        mean_value[i] = np.mean(values[: int(x[i])]) if x[i] else 0.0
        future[i] = len(times) - len(calibration)
    return x, t_x, T, mean_value, future


def test_simulated_customers_give_back_their_parameters_and_holdout_purchases():
    rng = np.random.default_rng(20261202)
    truth = BgNbd(r=0.25, alpha=4.0, a=0.8, b=2.5, loglik=0.0)
    spend_truth = GammaGamma(p=6.0, q=3.8, gamma=15.0, loglik=0.0)
    x, t_x, T, mean_value, future = simulate(rng, truth, spend_truth, 12_000, horizon=52.0, holdout=39.0)
    fitted = fit_bgnbd(compress(x, t_x, T))
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fitted, name) == pytest.approx(getattr(truth, name), rel=0.2), name
    spend = fit_gamma_gamma(x, mean_value)
    assert spend.p * spend.gamma / (spend.q - 1) == pytest.approx(
        spend_truth.p * spend_truth.gamma / (spend_truth.q - 1), rel=0.1
    )  # the population's mean spend per purchase
    predicted = fitted.expected_purchases(39.0, x, t_x, T)
    for group in range(4):  # customers by calibration purchases 0, 1, 2, 3+
        members = np.minimum(x, 3) == group
        assert predicted[members].mean() == pytest.approx(future[members].mean(), rel=0.2, abs=0.05), group
    value = predicted_value(fitted, spend, x=x, t_x=t_x, T=T, mean_value=mean_value, months=9, unit="week")
    assert np.all(value >= 0)
    assert value[x >= 3].mean() > value[x == 0].mean()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("customer,date,amount\n1,2026-01-01,5\n", "line 1: the header lacks customer_id"),
        ("customer_id,date,amount\n1,2026-01-01,5\n2,01/02/2026,5\n", "line 3: date '01/02/2026' is not YYYY-MM-DD"),
        ("customer_id,date,amount\n1,2026-01-01,-5\n", "line 2: amount -5 must be zero or more"),
        ("customer_id,date,amount\n1,2026-01-01,five\n", "line 2: amount 'five' is not a number"),
        ("customer_id,date,amount\n", "has a header but no purchases"),
        ("customer_id,date,amount\n1,2026-01-01,5\n", "at least 1 are needed"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_line(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(CommandError, match=message):
        fit(path)


def test_a_large_fit_started_from_a_sample_lands_on_the_full_maximum_likelihood():
    """Above 200,000 distinct summaries the fits start from a sample and polish on everything: the answer is still
    the full data's maximum, as lifetimes finds it (fitted on the same summaries)."""
    from bench.clv import simulate as simulate_days  # the benchmark's vectorized simulation, whole days

    purchases = simulate_days(300_000, seed=11)
    present, x, t_x, T, mean_value = summarize_arrays(
        purchases["customer"], purchases["day"], purchases["amount"], calibration_end=729
    )
    rows = compress(x, t_x, T)
    assert len(rows.x) > 4 * SAMPLE_ROWS
    assert len(present) == 300_000
    ours = fit_bgnbd(rows)
    spend = fit_gamma_gamma(x, mean_value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lifetimes.BetaGeoFitter().fit(x, t_x, T).params_
        repeat = x > 0
        money = lifetimes.GammaGammaFitter().fit(x[repeat], mean_value[repeat]).params_
    for name in ("r", "alpha", "a", "b"):
        assert getattr(ours, name) == pytest.approx(theirs[name], rel=1e-4), name
    for name, theirs_name in (("p", "p"), ("q", "q"), ("gamma", "v")):
        assert getattr(spend, name) == pytest.approx(money[theirs_name], rel=1e-4), name
    scores = score(ours, spend, x=x, t_x=t_x, T=T, mean_value=mean_value, months=6, unit="day")
    assert np.allclose(scores.p_alive, ours.p_alive(x, t_x, T))
    assert np.allclose(scores.expected_purchases, ours.expected_purchases(180.0, x, t_x, T))
