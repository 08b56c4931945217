"""hexsim's measurement CSV: timed engine iterations, the input of `hexsim profile fit`.

    phase,batch_size,prompt_tokens,context_tokens,time_s
    prefill,4,512,0,0.5317       # one iteration computing 4 prompts of 512 tokens
    decode,16,512,576,0.04866    # one decode iteration of 16 sequences attending to 576 tokens each

A prefill row times one iteration that computes `batch_size` whole prompts (the time to
the batch's first tokens); a decode row times one iteration in which `batch_size`
sequences each generate a token while attending to `context_tokens` tokens.
"""

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hexsim.atomic import atomic_open
from hexsim.csvrows import csv_rows
from hexsim.errors import InputError

COLUMNS = ("phase", "batch_size", "prompt_tokens", "context_tokens", "time_s")
PHASES = ("prefill", "decode")


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
    phase = (row["phase"] or "").strip()
    if phase not in PHASES:
        raise InputError(where, f"column 'phase' must be prefill or decode, got {phase!r}")
    values = {}
    for column, kind in (("batch_size", int), ("prompt_tokens", int), ("context_tokens", float), ("time_s", float)):
        text = (row[column] or "").strip()
        try:
            value = kind(text)
        except ValueError:
            raise InputError(where, f"column '{column}' must be a number, got {text!r}") from None
        if value < 0 or (value == 0 and column != "context_tokens") or value != value:
            raise InputError(where, f"column '{column}' must be positive, got {text!r}")
        values[column] = value
    if phase == "decode" and values["context_tokens"] <= 0:
        raise InputError(
            where, f"column 'context_tokens' must be positive for a decode row, got {row['context_tokens']!r}"
        )
    return Measurement(phase, values["batch_size"], values["prompt_tokens"], values["context_tokens"], values["time_s"])


def write_measurements(rows: Iterable[Measurement], path: str | Path) -> None:
    with atomic_open(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for m in rows:
            writer.writerow((m.phase, m.batch_size, m.prompt_tokens, m.context_tokens, m.time_s))
