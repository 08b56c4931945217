"""Field checks shared by the trace readers; each failure names where and what."""

import math
from typing import Any

from hexsim.errors import InputError
from hexsim.workload.model import Call


def token_count(value: Any, where: str, field: str) -> int:
    """A positive integer token count (JSON numbers or CSV strings)."""
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise InputError(where, f"field '{field}' must be a positive integer, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InputError(where, f"field '{field}' must be a positive integer, got {value!r}")
    return value


def step_name(value: Any, where: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(where, f"field '{field}' must be a non-empty string, got {value!r}")
    return value


def optional_seconds(value: Any, where: str, field: str, *, positive: bool) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        kind = "a positive number" if positive else "a non-negative number"
        raise InputError(where, f"field '{field}' must be {kind} of seconds, got {value!r}")
    return float(value)


def require(record: dict, field: str, where: str) -> Any:
    if not isinstance(record, dict):
        raise InputError(where, f"expected an object, got {type(record).__name__}")
    if field not in record:
        raise InputError(where, f"missing field '{field}'")
    return record[field]


def parse_call(raw: Any, where: str, input_field: str, output_field: str) -> Call:
    """A call record with a `step` and the two token counts under the format's field names."""
    return Call(
        step=step_name(require(raw, "step", where), where, "step"),
        input_tokens=token_count(require(raw, input_field, where), where, input_field),
        output_tokens=token_count(require(raw, output_field, where), where, output_field),
    )
