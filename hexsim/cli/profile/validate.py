"""`hexsim profile validate`: profiles against the published measurements, as tables and a figure."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hexsim.cli.options import flags

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from hexsim.profiles.validation import Comparison

METHODS = (
    "shipped profile",
    "free fit, in sample",
    "roofline",
    "roofline, GPU left out",
    "roofline, batch size left out",
    "roofline, TP left out",
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "validate",
        help="profiles against the published measurements: error table and figure",
        description="Compare predictions with every row of the published measurements: the HexGen-Text2SQL "
        "step latencies (shipped profiles; roofline; roofline with that GPU left out of the fit) and "
        "Splitwise's llama2-70b iterations (free fit in sample; roofline with each batch size or TP left out; "
        "roofline).",
    )
    p.add_argument(
        "--data",
        default="../shared/data/measurements",
        metavar="DIR",
        help="folder with step_latency_llama31_70b.csv and splitwise_perf_model.csv "
        "(default ../shared/data/measurements)",
    )
    p.add_argument("--out", metavar="PNG", help="write a predicted-vs-measured figure")
    p.set_defaults(run=run, flags=flags(p))


def run(args: argparse.Namespace, console: Console, err: Console) -> None:
    from pathlib import Path

    from hexsim.cli.outputs import output_file

    out = output_file("--out", args.out) if args.out is not None else None

    from hexsim.profiles.splitwise import read_splitwise
    from hexsim.profiles.step_fit import read_step_latencies
    from hexsim.profiles.validation import splitwise_comparisons, step_comparisons
    from hexsim.profiles.validation_plot import plot_validation

    data = Path(args.data)
    steps = read_step_latencies(data / "step_latency_llama31_70b.csv")
    splitwise = read_splitwise(data / "splitwise_perf_model.csv")
    comparisons = step_comparisons(steps, splitwise) + splitwise_comparisons(steps, splitwise)
    render(comparisons, console)
    for c in comparisons:
        if c.excluded:
            console.print(f"{c.dataset} {c.gpu} TP {c.tp}: {c.excluded} rows set aside by the fit as failed runs")
    if out is not None:
        plot_validation(out, comparisons)
        console.print(f"wrote {out}: predicted against measured latency", highlight=False)


def render(comparisons: Sequence[Comparison], console: Console) -> None:
    """A table per data set: a row per GPU, TP and method, with its error."""
    from hexsim.metrics.tables import print_table

    for dataset, groups in _grouped(comparisons).items():
        rows = []
        for (gpu, tp), group in groups.items():
            count = max(len(c.measured) + c.excluded for c in group.values())
            for i, method in enumerate(m for m in METHODS if m in group):
                first = [gpu, str(tp), str(count)] if i == 0 else ["", "", ""]
                rows.append([*first, method, f"{group[method].mape:.1%}", f"{group[method].worst:+.0%}"])
        print_table(
            console,
            f"{dataset}: mean absolute error of predicted vs measured, and the worst row",
            ["GPU", "TP", "rows", "method", "error", "worst"],
            rows,
            keys=4,
            legend=["error: mean of |predicted / measured - 1| over the rows; worst: the largest, with its sign."],
        )


def _grouped(comparisons: Sequence[Comparison]) -> dict:
    """Comparisons by data set, then (GPU, TP), then method."""
    groups: dict = {}
    for c in comparisons:
        groups.setdefault(c.dataset, {}).setdefault((c.gpu, c.tp), {})[c.method] = c
    return groups
