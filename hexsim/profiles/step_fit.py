"""Fit an instance's iteration coefficients to standalone per-step latencies.

Standalone latencies of a handful of (input, output) calls cannot separate all five
coefficients, so the batch dependence comes from a shape measured under batching and only
two scales are fitted per GPU: one for the decode iteration (base, per sequence, per context
token, in fixed ratio) and one for prefill (per token, per token squared, in fixed ratio).
The fit minimises relative error with non-negative least squares.
"""

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from hexsim.errors import InputError
from hexsim.profiles.gpus import canonical_gpu
from hexsim.profiles.latency import IterationCoefficients


@dataclass(frozen=True)
class StepLatency:
    gpu: str
    step: str
    input_tokens: int
    output_tokens: int
    latency_s: float


@dataclass(frozen=True)
class BatchShape:
    """Coefficient ratios taken from measurements under batching."""

    decode_seq_per_base: float
    context_token_per_base: float
    prefill_sq_per_token: float
    source: str


# Least-squares fit of llama2-70b on A100-80GB, TP 4, in the Splitwise perf-model data:
# decode iteration = 43.5 ms + 0.208 ms/sequence + 0.318 us/context token,
# prefill = 0.237 ms/token + 1.45e-9 s/token^2.
SPLITWISE_A100_SHAPE = BatchShape(
    decode_seq_per_base=0.2079e-3 / 43.52e-3,
    context_token_per_base=0.3176e-6 / 43.52e-3,
    prefill_sq_per_token=1.4478e-9 / 0.23686e-3,
    source="Splitwise perf-model llama2-70b A100-80GB TP4 (decode and prefill shape)",
)


def read_step_latencies(path: str | Path) -> list[StepLatency]:
    path = Path(path)
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for column in ("gpu", "step", "input_tokens", "output_tokens", "latency_s"):
            if column not in (reader.fieldnames or []):
                raise InputError(str(path), f"missing column '{column}'")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            try:
                latency = float(row["latency_s"])
                tokens = int(row["input_tokens"]), int(row["output_tokens"])
            except ValueError:
                raise InputError(where, f"non-numeric value in row {row!r}") from None
            if latency <= 0 or min(tokens) <= 0:
                raise InputError(where, f"latency and token counts must be positive, got {row!r}")
            gpu = canonical_gpu(row["gpu"], f"{where}: column 'gpu'")
            rows.append(StepLatency(gpu, row["step"], *tokens, latency))
    return rows


def _features(row: StepLatency, token_budget: int, shape: BatchShape) -> tuple[float, float]:
    p, o = row.input_tokens, row.output_tokens
    steps = o - 1
    iterations = math.ceil(p / token_budget) + steps
    context = steps * p + steps * (steps + 1) / 2
    decode = iterations + steps * shape.decode_seq_per_base + context * shape.context_token_per_base
    prefill = p + shape.prefill_sq_per_token * p * p
    return decode, prefill


def fit_step_latencies(
    rows: Iterable[StepLatency], token_budget: int, shape: BatchShape = SPLITWISE_A100_SHAPE
) -> IterationCoefficients:
    rows = list(rows)
    if len(rows) < 2:
        raise InputError("step latencies", f"need at least two rows to fit, got {len(rows)}")
    x = np.array([_features(r, token_budget, shape) for r in rows])
    y = np.array([r.latency_s for r in rows])
    (decode_scale, prefill_scale), _ = nnls(x / y[:, None], np.ones(len(rows)))
    return IterationCoefficients(
        base=decode_scale,
        prefill_token=prefill_scale,
        prefill_token_sq=prefill_scale * shape.prefill_sq_per_token,
        decode_seq=decode_scale * shape.decode_seq_per_base,
        context_token=decode_scale * shape.context_token_per_base,
    )
