"""Import the Splitwise perf-model CSV (prompt and per-token times in ms) as hexsim measurements."""

from collections import defaultdict
from pathlib import Path

from hexsim.csvrows import csv_rows
from hexsim.errors import InputError
from hexsim.profiles.measurements import Measurement

COLUMNS = (
    "model",
    "hardware",
    "prompt_size",
    "batch_size",
    "token_size",
    "prompt_time",
    "token_time",
    "tensor_parallel",
)


def read_splitwise(path: str | Path) -> dict[tuple[str, str, int], list[Measurement]]:
    """(model, hardware, TP) -> measurements: one prefill and one decode row per CSV row.

    A row's prompt_time is one prefill iteration of batch_size prompts; its token_time one
    decode iteration at batch_size sequences, whose context averages prompt + token_size / 2
    over the generated tokens.
    """
    groups: dict[tuple[str, str, int], list[Measurement]] = defaultdict(list)
    for row, where in csv_rows(path, COLUMNS, "Splitwise perf-model CSV"):
        try:
            prompt, batch, tokens, tp = (
                int(row[c]) for c in ("prompt_size", "batch_size", "token_size", "tensor_parallel")
            )
            prompt_s, token_s = float(row["prompt_time"]) / 1000.0, float(row["token_time"]) / 1000.0
        except ValueError:
            raise InputError(where, f"non-numeric value in row {dict(row)!r}") from None
        if min(prompt, batch, tokens, tp) <= 0 or not (prompt_s > 0 and token_s > 0):
            raise InputError(where, f"sizes and times must be positive, got {dict(row)!r}")
        key = (row["model"], row["hardware"], tp)
        groups[key].append(Measurement("prefill", batch, prompt, 0.0, prompt_s))
        groups[key].append(Measurement("decode", batch, prompt, prompt + tokens / 2.0, token_s))
    return dict(groups)
