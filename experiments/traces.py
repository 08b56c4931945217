"""The traces the experiments run: the published CHESS traces beside the repository, else hexsim's bundled one."""

from dataclasses import replace
from pathlib import Path

from hexsim.resources import default_trace
from hexsim.workload.model import Query
from hexsim.workload.prefixes import with_prefix_model
from hexsim.workload.traces import load_trace

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "traces"


def trace_paths() -> list[Path]:
    return sorted(SHARED.glob("chess_bird_trace*.json")) or [default_trace()]


def pooled_queries(paths: list[Path], prefix_model: str | None = None) -> tuple[Query, ...]:
    """Every query of every trace, ids prefixed with the trace's name (each trace numbers its own).

    With `prefix_model` the pool gets that model's prefix segments after renaming, so queries of
    different traces never share a query's own segments; without, each trace keeps what its file
    carries: a .jsonl trace its own segments, a .json trace (the published ones) none."""
    if prefix_model is None:
        return tuple(replace(q, id=f"{path.stem}/{q.id}") for path in paths for q in load_trace(path))
    pool = [replace(q, id=f"{path.stem}/{q.id}") for path in paths for q in load_trace(path, prefix_model="none")]
    return tuple(with_prefix_model(pool, prefix_model))
