"""Summary statistics of a trace: per-step token lengths and the shape of its queries.

Any workflow's trace gets calls and stages per query and per-step token lengths; the CHESS
histograms (revise rounds, evaluations per query) come only for a trace that has those steps.
"""

from collections import Counter
from collections.abc import Sequence

import numpy as np
from rich.console import Console
from rich.text import Text

from hexsim.metrics.tables import print_table
from hexsim.workload.chess_stats import EVALUATE, REVISE
from hexsim.workload.model import Query

# CHESS steps whose number of calls per query the statistics count: key -> step.
HISTOGRAMS = {"revise_rounds": REVISE, "evaluations": EVALUATE}
# Their tables: key -> (title, what a row counts).
HISTOGRAM_TABLES = {
    "revise_rounds": ("Revise rounds per query", "rounds"),
    "evaluations": ("Evaluate calls per query", "calls"),
}


def trace_statistics(queries: Sequence[Query]) -> dict:
    """Plain-data summary (JSON-serialisable; histogram keys are ints). `revise_rounds` and `evaluations`
    are there only when some query makes a call of that step."""
    inputs: dict[str, list[int]] = {}
    outputs: dict[str, list[int]] = {}
    for query in queries:
        for call in query.calls:
            inputs.setdefault(call.step, []).append(call.input_tokens)
            outputs.setdefault(call.step, []).append(call.output_tokens)
    stats = {
        "queries": len(queries),
        "calls_per_query": _spread([query.n_calls for query in queries]),
        "stages_per_query": _spread([len(query.stages) for query in queries]),
        "steps": {
            step: {
                "calls": len(inputs[step]),
                "input_tokens": _summary(inputs[step]),
                "output_tokens": _summary(outputs[step]),
            }
            for step in inputs
        },
    }
    for key, step in HISTOGRAMS.items():
        if step in inputs:
            stats[key] = _histogram(queries, step)
    return stats


def _spread(counts: list[int]) -> dict[str, float]:
    return {"mean": float(np.mean(counts)), "min": min(counts), "max": max(counts)}


def _summary(lengths: list[int]) -> dict[str, float]:
    p50, p90, p99 = np.percentile(lengths, [50, 90, 99])
    return {"mean": float(np.mean(lengths)), "p50": float(p50), "p90": float(p90), "p99": float(p99)}


def _histogram(queries: Sequence[Query], step: str) -> dict[int, int]:
    """Number of queries by how many calls of `step` they make."""
    counts = Counter(sum(call.step == step for call in query.calls) for query in queries)
    return dict(sorted(counts.items()))


def render_trace_stats(stats: dict, console: Console) -> None:
    """Every number of `stats` as tables that stay complete at any console width."""
    queries = stats["queries"]
    console.print(Text(f"{queries} {'query' if queries == 1 else 'queries'}"))
    console.print()
    print_table(
        console,
        "Calls and stages per query",
        ["", "mean", "min", "max"],
        [
            [label, f"{spread['mean']:.2f}", str(spread["min"]), str(spread["max"])]
            for label, spread in (("calls", stats["calls_per_query"]), ("stages", stats["stages_per_query"]))
        ],
    )
    for kind, title in (("input_tokens", "Prompt tokens per call"), ("output_tokens", "Output tokens per call")):
        print_table(
            console,
            f"{title}, by step",
            ["step", "calls", "mean", "p50", "p90", "p99"],
            [
                [name, str(step["calls"]), *(f"{step[kind][column]:.1f}" for column in ("mean", "p50", "p90", "p99"))]
                for name, step in stats["steps"].items()
            ],
            legend=["pN: the N-th percentile."],
        )
    for key, (title, counted) in HISTOGRAM_TABLES.items():
        if key not in stats:
            continue
        print_table(
            console,
            title,
            [counted, "queries", "share"],
            [[str(value), str(count), f"{count / stats['queries']:.1%}"] for value, count in stats[key].items()],
            keys=0,
        )
