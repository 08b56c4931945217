"""`hexsim trace generate|convert|mix|fit|stats|template`: write synthetic traces, convert traces to JSONL, mix
the traces of several workflows, fit their statistics, inspect traces."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from hexsim.cli.options import add_prefix_model, add_seed, flags, positive_int
from hexsim.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "trace",
        help="generate and inspect workflow traces",
        description="Generate synthetic CHESS traces, fit the statistics they are drawn from, mix the traces of "
        "several workflows into one, and inspect traces.",
    )
    tsub = p.add_subparsers(dest="trace_command", required=True, metavar="{generate,convert,mix,fit,stats,template}")
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
    add_prefix_model(g, "chess")
    g.set_defaults(run=_generate, flags=flags(g))
    c = tsub.add_parser(
        "convert",
        help="write a trace as hexsim JSONL, with the prefixes of a prefix preset",
        description="Write a trace (.json, .csv or .jsonl) as hexsim's JSONL, each call with the shared prefix "
        "segments --prefix-model gives it: to read, edit or keep the prefixes a simulation or replay assumes.",
    )
    c.add_argument("file", metavar="TRACE", help="trace file (.json, .csv or .jsonl)")
    c.add_argument("--out", required=True, metavar="FILE", help="output JSONL trace")
    add_prefix_model(c)
    c.set_defaults(run=_convert, flags=flags(c))
    x = tsub.add_parser(
        "mix",
        help="mix the traces of several workflows into one (JSONL), each query naming its workflow",
        description="Write one trace (JSONL) of the queries of several workflows, e.g. CHESS and MAC-SQL, in a "
        "random order: one arrival stream. Each query names its workflow: the file name of its trace (without "
        "extension), or the workflow a query of a mixed trace already names. Commands that read the mix give each "
        "workflow its own base SLO (its own queries' mean standalone latency) and report attainment and latency "
        "per workflow as well as overall.",
    )
    x.add_argument("files", nargs="+", metavar="TRACE", help="trace files (.json, .csv or .jsonl), one per workflow")
    x.add_argument("--out", required=True, metavar="FILE", help="output JSONL trace")
    x.add_argument(
        "--queries",
        type=positive_int,
        metavar="N",
        help="queries in the mix, drawn from each trace without replacement until it is used up, then again "
        "(default: as many as the traces hold together)",
    )
    x.add_argument(
        "--weights",
        nargs="+",
        metavar="NAME=W",
        help="each workflow's share of the queries, relative: chess=3 macsql=1 (default: its trace's size)",
    )
    add_seed(x, "random seed of the draws and the order")
    add_prefix_model(x)
    x.set_defaults(run=_mix, flags=flags(x))
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
        description="Per-step call counts and token-length statistics and calls and stages per query of any "
        "workflow's trace, revise rounds and evaluate calls per query where the trace has those CHESS steps, "
        "and how much of the prompts the prefix segments share.",
    )
    s.add_argument("file", metavar="FILE", help="trace file (.json, .csv or .jsonl)")
    s.add_argument("--json", action="store_true", help="print the statistics as JSON")
    add_prefix_model(s)
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
    run_generate(args.queries, args.seed, Path(args.out), Path(args.stats) if args.stats else None, args.prefix_model)


def _convert(args: argparse.Namespace, console: Console, err: Console) -> None:
    run_convert(Path(args.file), Path(args.out), args.prefix_model)


def _mix(args: argparse.Namespace, console: Console, err: Console) -> None:
    counts = run_mix(
        [Path(f) for f in args.files], Path(args.out), args.queries, args.weights, args.seed, args.prefix_model
    )
    shares = ", ".join(f"{name} {n}" for name, n in counts.items())
    console.print(
        f"wrote {args.out}: {sum(counts.values())} queries ({shares})", soft_wrap=True, highlight=False, markup=False
    )


def _fit(args: argparse.Namespace, console: Console, err: Console) -> None:
    run_fit(Path(args.file), Path(args.out))


def _stats(args: argparse.Namespace, console: Console, err: Console) -> None:
    run_stats(Path(args.file), args.json, console, args.prefix_model)


def _template(args: argparse.Namespace, console: Console, err: Console) -> None:
    run_template(Path(args.file), Path(args.out))


def run_generate(
    queries: int, seed: int, out: Path, stats_path: Path | None, prefix_model: str | Path | None = "chess"
) -> None:
    """Write a synthetic CHESS trace of `queries` queries to `out` (hexsim JSONL), with the prefixes of
    `prefix_model` (a preset's name or file; None or "none": no prefixes)."""
    import numpy as np

    from hexsim.cli.outputs import output_file
    from hexsim.workload.chess_stats import default_stats, load_stats
    from hexsim.workload.generator import generate_chess_trace
    from hexsim.workload.prefixes import NONE, load_prefix_model, with_prefix_model
    from hexsim.workload.traces import save_trace

    if queries < 1:
        raise InputError("--queries", f"must be at least 1, got {queries}")
    if seed < 0:
        raise InputError("--seed", f"must be a non-negative integer, got {seed}")
    if Path(out).suffix.lower() != ".jsonl":
        raise InputError("--out", f"traces are written as JSON Lines; the name must end in .jsonl, got {out}")
    out = output_file("--out", out)
    model = None if prefix_model in (None, NONE) else load_prefix_model(prefix_model)
    stats = default_stats() if stats_path is None else load_stats(stats_path)
    save_trace(with_prefix_model(generate_chess_trace(stats, queries, np.random.default_rng(seed)), model), out)


def run_convert(path: Path, out: Path, prefix_model: str | Path | None = None) -> None:
    """Write the trace at `path` to `out` as hexsim JSONL, with the prefixes of `prefix_model` (None: the
    command line's default, chess for .json and .csv, a .jsonl trace's own)."""
    from hexsim.cli.outputs import output_file
    from hexsim.workload.traces import default_prefix_model, load_trace, save_trace

    if Path(out).suffix.lower() != ".jsonl":
        raise InputError("--out", f"traces are written as JSON Lines; the name must end in .jsonl, got {out}")
    out = output_file("--out", out)
    spec = prefix_model if prefix_model is not None else default_prefix_model(path)
    save_trace(load_trace(path, spec), out)


def run_mix(
    paths: list[Path],
    out: Path,
    queries: int | None = None,
    weights: list[str] | None = None,
    seed: int = 0,
    prefix_model: str | Path | None = None,
) -> dict[str, int]:
    """Write to `out` (hexsim JSONL) a mix of the traces at `paths` (`hexsim.workload.mix.mix_traces`): `queries`
    queries (None: as many as the traces hold), each workflow's share by `weights` (`NAME=W` each; None: its
    trace's size). A query's workflow is the one it names, else its file's name without extension. Returns the
    number of queries of each workflow."""
    from hexsim.cli.outputs import output_file
    from hexsim.workload.mix import mix_traces, share_counts
    from hexsim.workload.traces import default_prefix_model, load_trace, save_trace

    if Path(out).suffix.lower() != ".jsonl":
        raise InputError("--out", f"traces are written as JSON Lines; the name must end in .jsonl, got {out}")
    out = output_file("--out", out)
    traces = _workflows(
        {
            path: load_trace(path, prefix_model if prefix_model is not None else default_prefix_model(path))
            for path in paths
        }
    )
    if len(traces) < 2:
        (name,) = traces
        raise InputError(str(paths[0]), f"holds one workflow ({name!r}): a mix needs two or more")
    shares = _weights(weights, traces) if weights else {name: float(len(qs)) for name, qs in traces.items()}
    count = sum(len(qs) for qs in traces.values()) if queries is None else queries
    mixed = mix_traces(traces, count, shares, seed)
    save_trace(mixed, out)
    return share_counts(count, shares)


def _workflows(loaded: dict[Path, list]) -> dict[str, list]:
    """The queries of every trace by workflow: the one a query names, else its file's name without extension."""
    from hexsim.inputfile import shown
    from hexsim.workload.fields import WORKFLOW_NAME, WORKFLOW_RULE

    traces: dict[str, list] = {}
    source: dict[str, Path] = {}
    for path, queries in loaded.items():
        if any(q.workflow is None for q in queries) and WORKFLOW_NAME.fullmatch(path.stem) is None:
            raise InputError(
                str(path),
                f"the file's name {shown(path.stem)} names its workflow and must be {WORKFLOW_RULE}: rename it",
            )
        mine: dict[str, list] = {}
        for query in queries:
            mine.setdefault(query.workflow or path.stem, []).append(query)
        for name, found in mine.items():
            if name in traces:
                raise InputError(
                    str(path), f"workflow {name!r} also comes from {source[name]}: one trace per workflow; rename one"
                )
            traces[name], source[name] = found, path
    return traces


def _weights(items: list[str], traces: dict[str, list]) -> dict[str, float]:
    """`NAME=W` items as weights, one for every workflow of `traces`."""
    import math

    known = ", ".join(sorted(traces))
    weights: dict[str, float] = {}
    for item in items:
        name, equals, text = item.partition("=")
        if not equals:
            raise InputError("--weights", f"expected NAME=WEIGHT, got {item!r}")
        if name not in traces:
            raise InputError("--weights", f"unknown workflow {name!r} in {item!r} (the traces hold {known})")
        if name in weights:
            raise InputError("--weights", f"workflow {name!r} is weighted twice")
        try:
            weight = float(text)
        except ValueError:
            weight = math.nan
        if not 0 < weight < math.inf:
            raise InputError("--weights", f"the weight of {name!r} must be a positive number, got {text!r}")
        weights[name] = weight
    missing = [name for name in sorted(traces) if name not in weights]
    if missing:
        raise InputError("--weights", f"no weight for workflow {missing[0]!r}: give each of {known} one")
    return weights


def run_fit(path: Path, out: Path) -> None:
    """Fit the CHESS workflow statistics of the trace at `path` and write them to `out` (JSON)."""
    from hexsim.cli.outputs import output_file
    from hexsim.workload.chess_stats import fit_chess_stats, save_stats
    from hexsim.workload.traces import load_trace

    out = output_file("--out", out)
    save_stats(fit_chess_stats(load_trace(path), str(path)), out)


def run_stats(path: Path, as_json: bool, console: Console, prefix_model: str | Path | None = None) -> None:
    """Print the statistics of the trace at `path`, its prefixes as `prefix_model` gives them (None: the
    command line's default); the prefix table only when some call has a prefix."""
    import json

    from hexsim.workload.prefix_stats import prefix_statistics, render_prefix_stats
    from hexsim.workload.trace_stats import render_trace_stats, trace_statistics
    from hexsim.workload.traces import default_prefix_model, load_trace

    queries = load_trace(path, prefix_model if prefix_model is not None else default_prefix_model(path))
    stats = trace_statistics(queries)
    prefixes = prefix_statistics(queries)
    if as_json:
        print(json.dumps(stats | {"prefixes": prefixes}, indent=2, sort_keys=True))
    else:
        render_trace_stats(stats, console)
        render_prefix_stats(prefixes, console)


def run_template(path: Path, out: Path) -> None:
    """Learn the scheduler's workflow template from a trace and write it as JSON."""
    from hexsim.cli.outputs import output_file
    from hexsim.scheduler.template import WorkflowTemplate, save_template
    from hexsim.workload.traces import load_trace

    out = output_file("--out", out)
    template = WorkflowTemplate.from_queries(load_trace(path), source=Path(path).name)
    save_template(template, out)
