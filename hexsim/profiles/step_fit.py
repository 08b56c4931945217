"""Calibrate a profile to standalone per-step latencies (the HexGen-Text2SQL measurements).

Standalone latencies of a handful of (input, output) calls cannot separate five
coefficients, so the batch dependence is taken from a reference profile (the roofline of the
same model, GPU and TP) and only two scales are fitted: one for the decode iteration (base,
per sequence, per context token, in the reference's ratios) and one for prefill (per token
and per token squared). The fit minimises relative error by non-negative least squares.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from hexsim.csvrows import csv_rows
from hexsim.errors import InputError
from hexsim.profiles.gpus import canonical_gpu
from hexsim.profiles.latency import Profile
from hexsim.profiles.measurements import column_value
from hexsim.workload.fields import MAX_TOKENS

MAX_STEP_S = 86_400.0  # a day: far beyond any single call's latency


@dataclass(frozen=True)
class StepLatency:
    gpu: str
    step: str
    input_tokens: int
    output_tokens: int
    latency_s: float


def read_step_latencies(path: str | Path) -> list[StepLatency]:
    rows = []
    for row, where in csv_rows(path, ("gpu", "step", "input_tokens", "output_tokens", "latency_s"), "step-latency CSV"):
        gpu = canonical_gpu(row["gpu"].strip(), f"{where}: column 'gpu'")
        step = row["step"].strip()
        if not step:
            raise InputError(where, "column 'step' must not be empty")
        input_tokens = column_value(row, "input_tokens", where, int, maximum=MAX_TOKENS)
        output_tokens = column_value(row, "output_tokens", where, int, maximum=MAX_TOKENS)
        latency = column_value(row, "latency_s", where, float, maximum=MAX_STEP_S)
        rows.append(StepLatency(gpu, step, input_tokens, output_tokens, latency))
    return rows


def _split(profile: Profile, row: StepLatency) -> tuple[float, float]:
    """(decode-scaled part, prefill-scaled part) of the row's standalone time under `profile`."""
    c = profile.coefficients
    p, steps = row.input_tokens, row.output_tokens - 1
    chunks = math.ceil(p / profile.max_num_batched_tokens)
    context = steps * p + steps * (steps + 1) / 2
    decode = (chunks + steps) * c.base + steps * c.decode_seq + context * c.context_token
    prefill = c.prefill_token * p + c.prefill_token_sq * p * p
    return decode, prefill


def calibrate_to_steps(reference: Profile, rows: Iterable[StepLatency], provenance: str) -> Profile:
    """`reference` with its decode and prefill coefficients scaled to fit `rows` (same GPU)."""
    rows = list(rows)
    if len(rows) < 2:
        raise InputError("step latencies", f"need at least two rows to fit, got {len(rows)}")
    x = np.array([_split(reference, r) for r in rows])
    y = np.array([r.latency_s for r in rows])
    (decode_scale, prefill_scale), _ = nnls(x / y[:, None], np.ones(len(rows)))
    c = reference.coefficients
    scaled = replace(
        c,
        base=c.base * decode_scale,
        decode_seq=c.decode_seq * decode_scale,
        context_token=c.context_token * decode_scale,
        prefill_token=c.prefill_token * prefill_scale,
        prefill_token_sq=c.prefill_token_sq * prefill_scale,
    )
    return replace(reference, coefficients=scaled, provenance=provenance)
