"""Import the Splitwise perf-model CSV (prompt and per-token times in ms) as hexsim measurements."""

from collections import defaultdict
from pathlib import Path

from hexsim.csvrows import csv_rows
from hexsim.errors import InputError
from hexsim.profiles.measurements import MAX_BATCH, Measurement, column_value, iteration_seconds
from hexsim.workload.fields import MAX_TOKENS

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
MS = 1e-3  # Splitwise's times are in milliseconds
MAX_TP = 1024  # far beyond any tensor-parallel group


def read_splitwise(path: str | Path) -> dict[tuple[str, str, int], list[Measurement]]:
    """(model, hardware, TP) -> measurements: one prefill and one decode row per CSV row.

    A row's prompt_time is one prefill iteration of batch_size prompts; its token_time one
    decode iteration at batch_size sequences, whose context averages prompt + token_size / 2
    over the generated tokens.
    """
    groups: dict[tuple[str, str, int], list[Measurement]] = defaultdict(list)
    for row, where in csv_rows(path, COLUMNS, "Splitwise perf-model CSV"):
        prompt = column_value(row, "prompt_size", where, int, maximum=MAX_TOKENS)
        batch = column_value(row, "batch_size", where, int, maximum=MAX_BATCH)
        tokens = column_value(row, "token_size", where, int, maximum=MAX_TOKENS)
        tp = column_value(row, "tensor_parallel", where, int, maximum=MAX_TP)
        prompt_s = iteration_seconds(row, "prompt_time", where, MS, "ms")
        token_s = iteration_seconds(row, "token_time", where, MS, "ms")
        for column in ("model", "hardware"):
            if not row[column].strip():
                raise InputError(where, f"column '{column}' must not be empty")
        key = (row["model"].strip(), row["hardware"].strip(), tp)
        groups[key].append(Measurement("prefill", batch, prompt, 0.0, prompt_s))
        groups[key].append(Measurement("decode", batch, prompt, prompt + tokens / 2.0, token_s))
    if not groups:
        raise InputError(str(path), "no measurements in the file")
    return dict(groups)
