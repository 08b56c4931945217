"""What the `generate`, `stats` and `template` trace commands do, for the CLI to call."""

import json
from pathlib import Path

import numpy as np
from rich.console import Console

from hexsim.errors import InputError
from hexsim.scheduler.template import WorkflowTemplate, save_template
from hexsim.workload.chess_stats import default_stats, load_stats
from hexsim.workload.generator import generate_chess_trace
from hexsim.workload.trace_stats import render_trace_stats, trace_statistics
from hexsim.workload.traces import load_trace, save_trace


def run_generate(queries: int, seed: int, out: Path, stats_path: Path | None) -> None:
    """Write a synthetic CHESS trace of `queries` queries to `out` (hexsim JSONL)."""
    if queries < 1:
        raise InputError("--queries", f"must be at least 1, got {queries}")
    if seed < 0:
        raise InputError("--seed", f"must be a non-negative integer, got {seed}")
    if Path(out).suffix.lower() != ".jsonl":
        raise InputError("--out", f"traces are written as JSON Lines; the name must end in .jsonl, got {out}")
    stats = default_stats() if stats_path is None else load_stats(stats_path)
    save_trace(generate_chess_trace(stats, queries, np.random.default_rng(seed)), out)


def run_stats(path: Path, as_json: bool, console: Console) -> None:
    stats = trace_statistics(load_trace(path))
    if as_json:
        print(json.dumps(stats, indent=2, sort_keys=True))
    else:
        render_trace_stats(stats, console)


def run_template(path: Path, out: Path) -> None:
    """Learn the scheduler's workflow template from a trace and write it as JSON."""
    template = WorkflowTemplate.from_queries(load_trace(path), source=Path(path).name)
    save_template(template, out)
