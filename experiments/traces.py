"""The traces the experiments run: the published CHESS traces beside the repository, else hexsim's bundled one."""

from dataclasses import replace
from pathlib import Path

from hexsim.resources import default_trace
from hexsim.workload.model import Query
from hexsim.workload.traces import load_trace

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "traces"


def trace_paths() -> list[Path]:
    return sorted(SHARED.glob("chess_bird_trace*.json")) or [default_trace()]


def pooled_queries(paths: list[Path]) -> tuple[Query, ...]:
    """Every query of every trace, ids prefixed with the trace's name (each trace numbers its own)."""
    return tuple(replace(q, id=f"{path.stem}/{q.id}") for path in paths for q in load_trace(path))
