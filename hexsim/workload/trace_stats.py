"""Summary statistics of a trace: per-step token lengths and the shape of its queries."""

from collections import Counter
from collections.abc import Sequence

import numpy as np
from rich.console import Console
from rich.table import Table

from hexsim.workload.chess_stats import EVALUATE, REVISE
from hexsim.workload.model import Query


def trace_statistics(queries: Sequence[Query]) -> dict:
    """Plain-data summary (JSON-serialisable; histogram keys are ints)."""
    inputs: dict[str, list[int]] = {}
    outputs: dict[str, list[int]] = {}
    for query in queries:
        for call in query.calls:
            inputs.setdefault(call.step, []).append(call.input_tokens)
            outputs.setdefault(call.step, []).append(call.output_tokens)
    calls_per_query = [query.n_calls for query in queries]
    return {
        "queries": len(queries),
        "calls_per_query": {
            "mean": float(np.mean(calls_per_query)),
            "min": min(calls_per_query),
            "max": max(calls_per_query),
        },
        "stages_per_query": {"mean": float(np.mean([len(query.stages) for query in queries]))},
        "steps": {
            step: {
                "calls": len(inputs[step]),
                "input_tokens": _summary(inputs[step]),
                "output_tokens": _summary(outputs[step]),
            }
            for step in inputs
        },
        "revise_rounds": _histogram(queries, REVISE),
        "evaluations": _histogram(queries, EVALUATE),
    }


def _summary(lengths: list[int]) -> dict[str, float]:
    p50, p90, p99 = np.percentile(lengths, [50, 90, 99])
    return {"mean": float(np.mean(lengths)), "p50": float(p50), "p90": float(p90), "p99": float(p99)}


def _histogram(queries: Sequence[Query], step: str) -> dict[int, int]:
    """Number of queries by how many calls of `step` they make."""
    counts = Counter(sum(call.step == step for call in query.calls) for query in queries)
    return dict(sorted(counts.items()))


def render_trace_stats(stats: dict, console: Console) -> None:
    calls = stats["calls_per_query"]
    summary = Table(title="Trace", show_header=False)
    summary.add_row("queries", str(stats["queries"]))
    summary.add_row("calls per query (mean / min / max)", f"{calls['mean']:.2f} / {calls['min']} / {calls['max']}")
    summary.add_row("stages per query (mean)", f"{stats['stages_per_query']['mean']:.2f}")
    console.print(summary)

    steps = Table(title="Token lengths per step")
    steps.add_column("step")
    steps.add_column("calls", justify="right")
    for kind in ("input", "output"):
        for column in ("mean", "p50", "p90", "p99"):
            steps.add_column(f"{kind} {column}", justify="right")
    for name, step in stats["steps"].items():
        cells = [
            f"{step[kind][column]:.1f}"
            for kind in ("input_tokens", "output_tokens")
            for column in ("mean", "p50", "p90", "p99")
        ]
        steps.add_row(name, str(step["calls"]), *cells)
    console.print(steps)

    for key, title in (("revise_rounds", "Revise rounds per query"), ("evaluations", "Evaluations per query")):
        histogram = Table(title=title)
        histogram.add_column("calls", justify="right")
        histogram.add_column("queries", justify="right")
        histogram.add_column("share", justify="right")
        for value, count in stats[key].items():
            histogram.add_row(str(value), str(count), f"{count / stats['queries']:.1%}")
        console.print(histogram)
