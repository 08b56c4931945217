"""hexsim's measurement CSV: timed engine iterations, the input of `hexsim profile fit`.

    phase,batch_size,prompt_tokens,context_tokens,time_s
    prefill,4,512,0,0.5317       # one iteration computing 4 prompts of 512 tokens
    decode,16,512,576,0.04866    # one decode iteration of 16 sequences attending to 576 tokens each

A prefill row times one iteration that computes `batch_size` whole prompts (the time to
the batch's first tokens); a decode row times one iteration in which `batch_size`
sequences each generate a token while attending to `context_tokens` tokens.
"""

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hexsim.atomic import atomic_open
from hexsim.csvrows import csv_rows
from hexsim.errors import InputError
from hexsim.inputfile import shown
from hexsim.workload.fields import MAX_TOKENS

COLUMNS = ("phase", "batch_size", "prompt_tokens", "context_tokens", "time_s")
PHASES = ("prefill", "decode")
# No engine iteration takes under a microsecond or over an hour: such a time is a broken timer or a unit mix-up.
MIN_ITERATION_S = 1e-6
MAX_ITERATION_S = 3600.0
# Far beyond any engine's batch: a larger one is a corrupt row.
MAX_BATCH = 100_000


@dataclass(frozen=True)
class Measurement:
    phase: str
    batch_size: int
    prompt_tokens: int
    context_tokens: float
    time_s: float

    def features(self) -> tuple[float, float, float, float, float]:
        """The iteration's (1, P, Q, n, C) for the linear iteration-time model."""
        b, p = self.batch_size, self.prompt_tokens
        if self.phase == "prefill":
            return (1.0, b * p, b * p * p, 0.0, 0.0)
        return (1.0, 0.0, 0.0, b, b * self.context_tokens)


def read_measurements(path: str | Path) -> list[Measurement]:
    rows = [_parse(row, where) for row, where in csv_rows(path, COLUMNS, "measurement CSV")]
    if not rows:
        raise InputError(str(path), "no measurements in the file")
    return rows


def _parse(row: dict, where: str) -> Measurement:
    phase = row["phase"].strip()
    if phase not in PHASES:
        raise InputError(where, f"column 'phase' must be prefill or decode, got {shown(phase)}")
    return Measurement(
        phase,
        column_value(row, "batch_size", where, int, maximum=MAX_BATCH),
        column_value(row, "prompt_tokens", where, int, maximum=MAX_TOKENS),
        column_value(row, "context_tokens", where, float, maximum=MAX_TOKENS, zero=phase == "prefill"),
        iteration_seconds(row, "time_s", where),
    )


def column_value(row: dict, column: str, where: str, kind: type, *, maximum: float, zero: bool = False) -> float:
    """The positive number (or zero, if `zero`) of type `kind` up to `maximum` in `column` of a CSV row."""
    text = row[column].strip()
    try:
        value = kind(text)
    except ValueError:
        raise InputError(where, f"column '{column}' must be a number, got {shown(text)}") from None
    if not math.isfinite(value):
        raise InputError(where, f"column '{column}' must be a finite number, got {shown(text)}")
    if value < 0 or (value == 0 and not zero):
        rule = "non-negative" if zero else "positive"
        raise InputError(where, f"column '{column}' must be {rule}, got {shown(text)}")
    if value > maximum:
        raise InputError(where, f"column '{column}' must be at most {maximum:,}, got {shown(text)}")
    return value


def iteration_seconds(row: dict, column: str, where: str, scale: float = 1.0, unit: str = "s") -> float:
    """The time in seconds of one engine iteration in `column` of a CSV row, which gives it in `unit` (`scale` s)."""
    text = row[column].strip()
    try:
        value = float(text) * scale
    except ValueError:
        raise InputError(where, f"column '{column}' must be a number, got {shown(text)}") from None
    if not MIN_ITERATION_S <= value <= MAX_ITERATION_S:
        raise InputError(
            where,
            f"column '{column}' must be from {MIN_ITERATION_S / scale:g} to {MAX_ITERATION_S / scale:g} {unit} "
            f"(no engine iteration takes under a microsecond or over an hour), got {shown(text)}",
        )
    return value


def write_measurements(rows: Iterable[Measurement], path: str | Path) -> None:
    with atomic_open(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for m in rows:
            writer.writerow((m.phase, m.batch_size, m.prompt_tokens, m.context_tokens, m.time_s))
