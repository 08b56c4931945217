"""Fit iteration coefficients to timed iterations: robust non-negative least squares on relative error.

The soft-L1 loss keeps a few broken rows (a run that ran out of memory, say) from pulling
the fit. Rows the robust fit still misses by more than a factor of two (and by far more
than the rest) are set aside as outliers and the fit is redone without them; a model that
is merely inaccurate somewhere keeps all its rows. Every row's residual is reported.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares, lsq_linear

from hexsim.errors import InputError
from hexsim.profiles.latency import IterationCoefficients
from hexsim.profiles.measurements import Measurement

OUTLIER_MADS = 8.0
OUTLIER_FLOOR = 1.0


@dataclass(frozen=True)
class FitResult:
    coefficients: IterationCoefficients
    measured: tuple[float, ...]
    predicted: tuple[float, ...]
    outliers: tuple[int, ...] = ()

    @property
    def relative_errors(self) -> np.ndarray:
        return np.array(self.predicted) / np.array(self.measured) - 1.0

    @property
    def mape(self) -> float:
        """Mean absolute relative error over the rows used in the fit (outliers excluded)."""
        errors = np.abs(self.relative_errors)
        keep = np.ones(len(errors), dtype=bool)
        keep[list(self.outliers)] = False
        return float(np.mean(errors[keep]))


def predict(coefficients: IterationCoefficients, rows: Sequence[Measurement]) -> np.ndarray:
    c = coefficients
    vector = np.array([c.base, c.prefill_token, c.prefill_token_sq, c.decode_seq, c.context_token])
    return np.array([m.features() for m in rows]) @ vector


def _robust_fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    scale = np.abs(x).max(axis=0)
    scale[scale == 0] = 1.0
    design = x / y[:, None] / scale
    start = lsq_linear(design, np.ones(len(y)), bounds=(0.0, np.inf), method="bvls").x
    # log(predicted / measured): a row 10x too fast weighs like one 10x too slow, not 10x more.
    robust = least_squares(
        lambda c: np.log(np.maximum(design @ c, 1e-12)),
        np.maximum(start, 1e-6),
        bounds=(0.0, np.inf),
        loss="soft_l1",
        f_scale=0.05,
    )
    return robust.x / scale


def fit_measurements(rows: Sequence[Measurement], where: str = "measurements") -> FitResult:
    """Coefficients minimising the relative error of every row, all non-negative."""
    phases = {m.phase for m in rows}
    if phases != {"prefill", "decode"}:
        raise InputError(where, f"need both prefill and decode rows to fit, got only {sorted(phases) or 'none'}")
    x = np.array([m.features() for m in rows])
    y = np.array([m.time_s for m in rows])
    solution = _robust_fit(x, y)
    errors = x @ solution / y - 1.0
    spread = np.median(np.abs(errors - np.median(errors)))
    outliers = np.flatnonzero(np.abs(errors) > max(OUTLIER_FLOOR, OUTLIER_MADS * spread))
    if len(outliers):
        keep = np.setdiff1d(np.arange(len(rows)), outliers)
        solution = _robust_fit(x[keep], y[keep])
    coefficients = IterationCoefficients(*(float(v) for v in solution))
    return FitResult(coefficients, tuple(y.tolist()), tuple((x @ solution).tolist()), tuple(outliers.tolist()))
