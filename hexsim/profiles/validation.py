"""Profiles against every published measurement: in-sample, cross-validated and roofline-only errors.

HexGen-Text2SQL step latencies (Llama-3.1-70B, standalone): the shipped profile, the roofline
with the shipped efficiencies, and the roofline with efficiencies fitted without that GPU.
Splitwise llama2-70b iterations (A100-80GB and H100-80GB, TP 2/4/8): a free five-coefficient
fit in sample, on the rows as published; then, on repeated runs merged and physically
impossible rows dropped as in the efficiency fit, the roofline structure fitted without each
batch size (leave-one-batch-size-out) and without each TP (leave-one-TP-out, all other
measurements), and the shipped roofline.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from hexsim.profiles.fit import fit_measurements, predict
from hexsim.profiles.gpus import gpu_table
from hexsim.profiles.models import model_spec
from hexsim.profiles.resolve import resolve_profile
from hexsim.profiles.roofline import (
    SPLITWISE_MODEL,
    STEP_LATENCY_MODEL,
    STEP_LATENCY_TP,
    SplitwiseGroup,
    default_efficiencies,
    fit_efficiencies,
    roofline_profile,
    splitwise_groups,
)
from hexsim.profiles.step_fit import StepLatency


@dataclass(frozen=True)
class Comparison:
    """Predicted against measured seconds for one data set and one way of predicting."""

    dataset: str
    gpu: str
    tp: int
    method: str
    measured: tuple[float, ...]
    predicted: tuple[float, ...]
    excluded: int = 0  # rows the fit set aside as failed runs

    @property
    def errors(self) -> np.ndarray:
        return np.array(self.predicted) / np.array(self.measured) - 1.0

    @property
    def mape(self) -> float:
        return float(np.mean(np.abs(self.errors)))

    @property
    def worst(self) -> float:
        return float(self.errors[np.argmax(np.abs(self.errors))])


def step_comparisons(steps: Sequence[StepLatency], splitwise: Mapping) -> list[Comparison]:
    model = model_spec(STEP_LATENCY_MODEL, "step latencies")
    out = []
    for gpu, tp in STEP_LATENCY_TP.items():
        rows = [r for r in steps if r.gpu == gpu]
        measured = tuple(r.latency_s for r in rows)
        held_out = fit_efficiencies([r for r in steps if r.gpu != gpu], splitwise).efficiencies
        for method, profile in (
            ("shipped profile", resolve_profile(STEP_LATENCY_MODEL, gpu, tp, "validate")),
            ("roofline", roofline_profile(model, gpu_table()[gpu], tp, default_efficiencies())),
            ("roofline, GPU left out", roofline_profile(model, gpu_table()[gpu], tp, held_out)),
        ):
            predicted = tuple(profile.standalone_time(r.input_tokens, r.output_tokens) for r in rows)
            out.append(Comparison("step latencies", gpu, tp, method, measured, predicted))
    return out


def splitwise_comparisons(steps: Sequence[StepLatency], splitwise: Mapping) -> list[Comparison]:
    model = model_spec(SPLITWISE_MODEL, "Splitwise")
    everything = fit_efficiencies(steps, splitwise)
    tps = {tp for _, _, tp in splitwise}
    without_tp = {tp: fit_efficiencies(steps, {k: v for k, v in splitwise.items() if k[2] != tp}) for tp in tps}
    out = []
    for group in splitwise_groups(splitwise, model):
        key = (SPLITWISE_MODEL, group.hardware, group.tp)
        raw = splitwise[key]
        free = fit_measurements(raw)
        kept = np.setdiff1d(np.arange(len(raw)), free.outliers)
        in_sample = _splitwise(
            "free fit, in sample", group, np.array(free.measured)[kept], np.array(free.predicted)[kept]
        )
        out.append(replace(in_sample, excluded=len(free.outliers)))
        batches = np.array([m.batch_size for m in group.rows])
        held_out = np.empty(len(group.rows))
        for batch in np.unique(batches):
            train = [m for m, b in zip(group.rows, batches, strict=True) if b != batch]
            fit = fit_efficiencies([], {key: train})
            coefficients = fit.splitwise_coefficients(model, group)
            test = [m for m, b in zip(group.rows, batches, strict=True) if b == batch]
            held_out[batches == batch] = predict(coefficients, test)
        out.append(_splitwise("roofline, batch size left out", group, group.times, held_out))
        coefficients = without_tp[group.tp].splitwise_coefficients(model, group)
        out.append(_splitwise("roofline, TP left out", group, group.times, predict(coefficients, group.rows)))
        shipped = everything.splitwise_coefficients(model, group)
        out.append(_splitwise("roofline", group, group.times, predict(shipped, group.rows)))
    return out


def _splitwise(method: str, group: SplitwiseGroup, measured: np.ndarray, predicted: np.ndarray) -> Comparison:
    return Comparison(
        "Splitwise", group.gpu.name, group.tp, method, tuple(measured.tolist()), tuple(predicted.tolist())
    )
