"""The optimizer both likelihoods share."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

from analytics.clv.summaries import Array

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
