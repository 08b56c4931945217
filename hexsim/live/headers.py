"""The workflow metadata a client sends with each call, in `X-Hexsim-*` headers.

    X-Hexsim-Query: q-17        the query the call belongs to
    X-Hexsim-Step: revise       the call's step (the template's estimates are per step)
    X-Hexsim-Stage: 4           the index of the call's stage in its query (0, 1, ...)
    X-Hexsim-SLO: 114.3         the query's end-to-end SLO in seconds (read when the query opens)

A call without `X-Hexsim-Query` is a query of its own. With it, the step and stage are required.
The gateway's answer says where the call ran:

    X-Hexsim-Instance: a100-0   the instance that answered
    X-Hexsim-Retries: 1         how often the call was placed again after an engine failed
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass

QUERY, STEP, STAGE, SLO = "x-hexsim-query", "x-hexsim-step", "x-hexsim-stage", "x-hexsim-slo"
INSTANCE, RETRIES = "x-hexsim-instance", "x-hexsim-retries"
MAX_NAME = 256
SINGLE_STEP = "call"  # the step of a call without workflow metadata


class HeaderError(ValueError):
    """A workflow header that cannot be read; the message names the header and its value."""


@dataclass(frozen=True)
class Workflow:
    query: str | None
    step: str
    stage: int
    slo: float | None


def read_workflow(headers: Mapping[str, str]) -> Workflow:
    """The call's workflow metadata (HeaderError if a header is malformed or one is missing)."""
    slo = _slo(headers.get(SLO))
    query = headers.get(QUERY)
    if query is None:
        return Workflow(None, _name(STEP, headers.get(STEP)) if STEP in headers else SINGLE_STEP, 0, slo)
    query = _name(QUERY, query)
    for header in (STEP, STAGE):
        if header not in headers:
            raise HeaderError(f"{_title(header)} is required with X-Hexsim-Query")
    return Workflow(query, _name(STEP, headers[STEP]), _stage(headers[STAGE]), slo)


def _title(header: str) -> str:
    return "-".join(part.capitalize() for part in header.split("-")).replace("Slo", "SLO")


def _name(header: str, value: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_NAME or not value.isprintable():
        raise HeaderError(f"{_title(header)} must be a name of 1 to {MAX_NAME} printable characters, got {value!r}")
    return value


def _stage(value: str) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise HeaderError(f"X-Hexsim-Stage must be a stage index (0, 1, 2, ...), got {value!r}")
    return int(text)


def _slo(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        slo = float(value)
    except ValueError:
        slo = math.nan
    if not (0.0 < slo < math.inf):
        raise HeaderError(f"X-Hexsim-SLO must be a positive number of seconds, got {value!r}")
    return slo
