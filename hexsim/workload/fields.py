"""Field checks shared by the trace readers; each failure names where and what."""

import math
import re
from typing import Any

from hexsim.errors import InputError
from hexsim.inputfile import shown
from hexsim.workload.model import Call, Segment

# Far beyond any model's context window: a larger count is a corrupt file, not a long prompt.
MAX_TOKENS = 10_000_000
# About 31 years: float seconds still resolve a microsecond there.
MAX_SECONDS = 1e9
# A workflow's name is a report key and a --weights key (NAME=W): no spaces, '=' or ','.
WORKFLOW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
WORKFLOW_RULE = "a name of 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"


def token_text(text: str, where: str, field: str) -> int:
    """A positive integer token count written as text (a CSV field)."""
    try:
        value = int(text.strip())
    except ValueError:
        raise InputError(where, f"field '{field}' must be a positive integer, got {shown(text)}") from None
    return token_count(value, where, field)


def token_count(value: Any, where: str, field: str) -> int:
    """A positive integer token count: a JSON number, not a string holding one."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InputError(where, f"field '{field}' must be a positive integer, got {shown(value)}")
    if value > MAX_TOKENS:
        raise InputError(where, f"field '{field}' must be at most {MAX_TOKENS:,} tokens, got {shown(value)}")
    return value


def step_name(value: Any, where: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(where, f"field '{field}' must be a non-empty string, got {shown(value)}")
    return value


def workflow_name(value: Any, where: str, field: str) -> str:
    """A workflow's name (`WORKFLOW_RULE`)."""
    if not isinstance(value, str) or WORKFLOW_NAME.fullmatch(value) is None:
        raise InputError(where, f"field '{field}' must be {WORKFLOW_RULE}, got {shown(value)}")
    return value


def optional_seconds(value: Any, where: str, field: str, *, positive: bool) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= MAX_SECONDS
        or (positive and value == 0)
    ):
        kind = "a positive number" if positive else "a non-negative number"
        raise InputError(where, f"field '{field}' must be {kind} of seconds up to {MAX_SECONDS:g}, got {shown(value)}")
    return float(value)


def require(record: dict, field: str, where: str) -> Any:
    if not isinstance(record, dict):
        raise InputError(where, f"expected an object, got {type(record).__name__}")
    if field not in record:
        raise InputError(where, f"missing field '{field}'")
    return record[field]


def check_fields(record: Any, where: str, known: tuple[str, ...]) -> None:
    """A field the format does not have is most likely a misspelt one: name it."""
    if isinstance(record, dict):
        for name in record:
            if name not in known:
                raise InputError(where, f"unknown field {shown(name)} (expected {', '.join(known)})")


def parse_call(raw: Any, where: str, input_field: str, output_field: str, *, prefix: bool = False) -> Call:
    """A call record with a `step` and the two token counts under the format's field names,
    and with `prefix` a list of shared segments."""
    check_fields(raw, where, ("step", input_field, output_field) + (("prefix",) if prefix else ()))
    call = Call(
        step=step_name(require(raw, "step", where), where, "step"),
        input_tokens=token_count(require(raw, input_field, where), where, input_field),
        output_tokens=token_count(require(raw, output_field, where), where, output_field),
    )
    if not prefix or "prefix" not in raw:
        return call
    segments = parse_prefix(raw["prefix"], where)
    shared = sum(segment.tokens for segment in segments)
    if shared > call.input_tokens:
        raise InputError(
            where, f"field 'prefix' holds {shared} tokens, more than the call's '{input_field}' ({call.input_tokens})"
        )
    return Call(call.step, call.input_tokens, call.output_tokens, segments)


def parse_prefix(raw: Any, where: str) -> tuple[Segment, ...]:
    """`[{"key": "...", "tokens": N}, ...]`: the shared segments a prompt starts with, each key once."""
    if not isinstance(raw, list):
        raise InputError(where, f"field 'prefix' must be a list of segments, got {shown(raw)}")
    segments = []
    seen = set()
    for i, item in enumerate(raw):
        at = f"{where}, prefix segment {i}"
        check_fields(item, at, ("key", "tokens"))
        key = require(item, "key", at)
        if not isinstance(key, str) or not key.strip():
            raise InputError(at, f"field 'key' must be a non-empty string, got {shown(key)}")
        if key in seen:
            raise InputError(at, f"segment {shown(key)} appears twice in one prompt")
        seen.add(key)
        segments.append(Segment(key, token_count(require(item, "tokens", at), at, "tokens")))
    return tuple(segments)
