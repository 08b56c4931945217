"""`hexsim trace generate|fit|stats|template`: write synthetic traces, fit their statistics, inspect traces."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from hexsim.cli.options import add_seed, flags, positive_int
from hexsim.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "trace",
        help="generate and inspect workflow traces",
        description="Generate synthetic CHESS traces, fit the statistics they are drawn from, and inspect traces.",
    )
    tsub = p.add_subparsers(dest="trace_command", required=True, metavar="{generate,fit,stats,template}")
    g = tsub.add_parser(
        "generate",
        help="write a synthetic CHESS-like trace (JSONL)",
        description="Write a synthetic CHESS-like trace whose step token lengths and stage "
        "structure follow workflow statistics: by default those fitted to the published CHESS traces, "
        "or those 'hexsim trace fit' wrote for your own trace (--stats).",
    )
    g.add_argument("--queries", type=positive_int, default=500, metavar="N", help="number of queries (default 500)")
    add_seed(g, "random seed")
    g.add_argument("--out", required=True, metavar="FILE", help="output JSONL trace")
    g.add_argument(
        "--stats",
        metavar="FILE",
        help="workflow statistics JSON written by 'hexsim trace fit TRACE --out FILE' (default: the bundled CHESS fit)",
    )
    g.set_defaults(run=_generate, flags=flags(g))
    f = tsub.add_parser(
        "fit",
        help="fit the workflow statistics 'trace generate --stats' reads to a CHESS trace",
        description="Fit to a CHESS trace the statistics synthetic traces are drawn from: how often each "
        "step runs per query (the joint distribution of the trace's query shapes), per-step token-length "
        "quantiles, and the correlation of the input lengths within a query. Then "
        "'hexsim trace generate --stats FILE' writes traces like it, of any size. Every query must follow "
        "the CHESS workflow.",
    )
    f.add_argument("file", metavar="TRACE", help="trace file (.json, .csv or .jsonl)")
    f.add_argument("--out", required=True, metavar="FILE", help="output statistics JSON")
    f.set_defaults(run=_fit, flags=flags(f))
    s = tsub.add_parser(
        "stats",
        help="per-step token statistics of a trace",
        description="Per-step call counts and token-length statistics, calls per query, "
        "revise rounds and evaluation counts of a trace.",
    )
    s.add_argument("file", metavar="FILE", help="trace file (.json, .csv or .jsonl)")
    s.add_argument("--json", action="store_true", help="print the statistics as JSON")
    s.set_defaults(run=_stats, flags=flags(s))
    m = tsub.add_parser(
        "template",
        help="learn the scheduler's workflow template from a trace",
        description="Learn the workflow template the scheduler plans with: mean output length "
        "per step, mean longest prompt per stage, and the stages expected to follow each "
        "workflow position. Use it with --template.",
    )
    m.add_argument("file", metavar="FILE", help="trace file (.json, .csv or .jsonl)")
    m.add_argument("--out", required=True, metavar="FILE", help="output template JSON")
    m.set_defaults(run=_template, flags=flags(m))


def _generate(args: argparse.Namespace, console: Console, err: Console) -> None:
    run_generate(args.queries, args.seed, Path(args.out), Path(args.stats) if args.stats else None)


def _fit(args: argparse.Namespace, console: Console, err: Console) -> None:
    run_fit(Path(args.file), Path(args.out))


def _stats(args: argparse.Namespace, console: Console, err: Console) -> None:
    run_stats(Path(args.file), args.json, console)


def _template(args: argparse.Namespace, console: Console, err: Console) -> None:
    run_template(Path(args.file), Path(args.out))


def run_generate(queries: int, seed: int, out: Path, stats_path: Path | None) -> None:
    """Write a synthetic CHESS trace of `queries` queries to `out` (hexsim JSONL)."""
    import numpy as np

    from hexsim.cli.outputs import output_file
    from hexsim.workload.chess_stats import default_stats, load_stats
    from hexsim.workload.generator import generate_chess_trace
    from hexsim.workload.traces import save_trace

    if queries < 1:
        raise InputError("--queries", f"must be at least 1, got {queries}")
    if seed < 0:
        raise InputError("--seed", f"must be a non-negative integer, got {seed}")
    if Path(out).suffix.lower() != ".jsonl":
        raise InputError("--out", f"traces are written as JSON Lines; the name must end in .jsonl, got {out}")
    out = output_file("--out", out)
    stats = default_stats() if stats_path is None else load_stats(stats_path)
    save_trace(generate_chess_trace(stats, queries, np.random.default_rng(seed)), out)


def run_fit(path: Path, out: Path) -> None:
    """Fit the CHESS workflow statistics of the trace at `path` and write them to `out` (JSON)."""
    from hexsim.cli.outputs import output_file
    from hexsim.workload.chess_stats import fit_chess_stats, save_stats
    from hexsim.workload.traces import load_trace

    out = output_file("--out", out)
    save_stats(fit_chess_stats(load_trace(path), str(path)), out)


def run_stats(path: Path, as_json: bool, console: Console) -> None:
    import json

    from hexsim.workload.trace_stats import render_trace_stats, trace_statistics
    from hexsim.workload.traces import load_trace

    stats = trace_statistics(load_trace(path))
    if as_json:
        print(json.dumps(stats, indent=2, sort_keys=True))
    else:
        render_trace_stats(stats, console)


def run_template(path: Path, out: Path) -> None:
    """Learn the scheduler's workflow template from a trace and write it as JSON."""
    from hexsim.cli.outputs import output_file
    from hexsim.scheduler.template import WorkflowTemplate, save_template
    from hexsim.workload.traces import load_trace

    out = output_file("--out", out)
    template = WorkflowTemplate.from_queries(load_trace(path), source=Path(path).name)
    save_template(template, out)
