"""Fit iteration coefficients to timed iterations: robust non-negative least squares on relative error.

The soft-L1 loss keeps a few broken rows (a run that ran out of memory, say) from pulling
the fit. Rows the robust fit still misses by more than a factor of two (and by far more
than the rest) are set aside as outliers and the fit is redone without them; a model that
is merely inaccurate somewhere keeps all its rows. Every row's residual is reported.

Rows that do not determine every coefficient are refused, saying what varies too little: when
every prefill row has one prompt length, say, the rows cannot tell the per-token cost from the
quadratic one, and any split of the time between them would fit equally well.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares, lsq_linear

from hexsim.errors import InputError
from hexsim.profiles.files import COEFFICIENTS
from hexsim.profiles.latency import IterationCoefficients
from hexsim.profiles.measurements import Measurement

OUTLIER_MADS = 8.0
OUTLIER_FLOOR = 1.0
# A singular value of the scaled design below this share of the largest is a direction of the
# coefficients the rows do not see (exact ties give ~1e-16; any real sweep is many orders above).
RANK_TOLERANCE = 1e-9


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


def _design(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The relative-error design (each row over its time, each column over its largest value) and the scales."""
    scale = np.abs(x).max(axis=0)
    scale[scale == 0] = 1.0
    return x / y[:, None] / scale, scale


def _undetermined(x: np.ndarray, y: np.ndarray) -> list[str]:
    """The coefficients in a null direction of the design: the rows cannot tell them apart, or from zero."""
    if not len(x):
        return list(COEFFICIENTS)
    design, _ = _design(x, y)
    _, singular, vt = np.linalg.svd(design)
    singular = np.concatenate([singular, np.zeros(len(COEFFICIENTS) - len(singular))])
    null = vt[singular <= RANK_TOLERANCE * singular.max()]
    seen = (np.abs(null) > 1e-6).any(axis=0)
    return [name for name, hit in zip(COEFFICIENTS, seen, strict=True) if hit]


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _too_little_variation(rows: Sequence[Measurement], undetermined: list[str]) -> str:
    """What the rows of each phase with undetermined coefficients hold too few values of, then what to time."""
    facts, advice = [], []
    for phase, own_coefficients, size, unit in (
        ("prefill", {"prefill_token", "prefill_token_sq"}, "prompt_tokens", "prompt"),
        ("decode", {"decode_seq", "context_token"}, "context_tokens", "context"),
    ):
        if not own_coefficients & set(undetermined):
            continue
        own = [m for m in rows if m.phase == phase]
        if not own:
            facts.append(f"there are no {phase} rows")
            advice.append(f"time {phase} iterations too")
            continue
        batches = {m.batch_size for m in own}
        sizes = {getattr(m, size) for m in own}
        held, varies = [], []
        # A decode row's n is its batch size, so one batch size leaves decode_seq indistinct from base; a
        # prefill row's P = b * p and Q = b * p * p are told apart by the prompt length unless that is fixed.
        if len(batches) == 1 and (len(sizes) == 1 or phase == "decode"):
            held.append(f"batch {min(batches)}")
            varies.append("batch size")
        if len(sizes) == 1:
            held.append(f"{min(sizes):g} {unit} tokens")
            varies.insert(0, f"{unit} length")
        if held:
            rows_have = f"the one {phase} row has" if len(own) == 1 else f"all {len(own)} {phase} rows have"
            facts.append(f"{rows_have} {' and '.join(held)}")
            advice.append(f"vary the {' and '.join(varies)} of the {phase} rows")
        else:
            distinct = len({(m.batch_size, getattr(m, size)) for m in own})
            facts.append(f"the {len(own)} {phase} rows have only {distinct} distinct sizes")
            advice.append(f"time {phase} iterations of more sizes")
    return f"{'; '.join(facts)}: {', and '.join(advice)}"


def _robust_fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    design, scale = _design(x, y)
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
    if not rows:
        raise InputError(where, "no measurements to fit")
    x = np.array([m.features() for m in rows])
    y = np.array([m.time_s for m in rows])
    if undetermined := _undetermined(x, y):
        raise InputError(
            where,
            f"the rows do not determine the coefficients {_names(undetermined)}: "
            f"{_too_little_variation(rows, undetermined)}",
        )
    solution = _robust_fit(x, y)
    errors = x @ solution / y - 1.0
    spread = np.median(np.abs(errors - np.median(errors)))
    outliers = np.flatnonzero(np.abs(errors) > max(OUTLIER_FLOOR, OUTLIER_MADS * spread))
    keep = np.setdiff1d(np.arange(len(rows)), outliers)
    if len(outliers) and _undetermined(x[keep], y[keep]):
        # Without the outliers the rest could not determine the coefficients: keep them all.
        outliers = outliers[:0]
    elif len(outliers):
        solution = _robust_fit(x[keep], y[keep])
    coefficients = IterationCoefficients(*(float(v) for v in solution))
    return FitResult(coefficients, tuple(y.tolist()), tuple((x @ solution).tolist()), tuple(outliers.tolist()))
