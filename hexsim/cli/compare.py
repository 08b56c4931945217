"""`hexsim compare`: policies side by side, per trace, as the paper reports them."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hexsim.cli.options import (
    add_cluster,
    add_config,
    add_policies,
    add_seed,
    add_slo_scale,
    add_template,
    flags,
    positive_float,
    positive_int,
)
from hexsim.defaults import DEFAULT_RATE, THROUGHPUT_SLO_SCALE
from hexsim.errors import InputError

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from hexsim.experiment import Experiment


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare policies per trace: attainment curves, latency deadlines, throughput",
        description="Compare scheduling policies per trace as the HexGen-Text2SQL paper does: attainment "
        "against SLO scale, latency deadlines at 95% and 99% attainment, throughput at 95% attainment "
        "(highest Poisson arrival rate found by bisection over simulations), P95 latency, and ratios "
        "against vllm and lor.",
    )
    add_cluster(p)
    p.add_argument("--trace", action="append", metavar="FILE", help="trace file; repeat for several (default: bundled)")
    p.add_argument(
        "--rates",
        nargs="+",
        type=positive_float,
        default=[DEFAULT_RATE],
        metavar="QPS",
        help=f"arrival rates, queries/s; headline numbers use the first (default {DEFAULT_RATE})",
    )
    add_policies(p, "policy to compare")
    add_slo_scale(
        p,
        THROUGHPUT_SLO_SCALE,
        "SLO scale at which throughput is measured (CHESS queries with many revise rounds take over twice "
        "the base SLO even alone)",
    )
    add_seed(p, "first random seed of the arrival process")
    p.add_argument(
        "--seeds",
        type=positive_int,
        default=1,
        metavar="M",
        help="arrival samples per trace, rate and policy (seeds SEED..SEED+M-1), their queries pooled for every "
        "number: steadier deadlines and throughput for M times the simulations (default 1)",
    )
    add_config(p)
    add_template(p)
    p.add_argument("--json", action="store_true", help="print one machine-readable JSON report on stdout")
    p.add_argument("--out", metavar="DIR", help="write report.json and figures (PNG) into DIR")
    p.set_defaults(run=run, flags=flags(p, rate="--rates"))


def run(args: argparse.Namespace, console: Console, err: Console) -> None:
    from dataclasses import replace
    from pathlib import Path

    from hexsim.cli import setup
    from hexsim.metrics.report import report_json
    from hexsim.metrics.summary import DEFAULT_SCALES
    from hexsim.progress import lazy_progress
    from hexsim.scheduler.registry import POLICIES, get_policy
    from hexsim.sim.comparison import compare_trace, trace_report

    cluster_file = setup.cluster_file(args)
    cluster = setup.cluster(args)
    traces = setup.traces(args)
    policies = [get_policy(name).name for name in (args.policy or list(POLICIES))]
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise InputError("--out", f"{args.out!r} exists and is not a folder")
    # Everything but the queries is the same for every trace.
    experiment = setup.load_experiment(args, cluster, [], config=setup.scheduler_config(args), rates=tuple(args.rates))
    per_trace = {name: replace(experiment, queries=tuple(queries)) for name, queries in traces.items()}
    scales = sorted(set(DEFAULT_SCALES) | {args.slo_scale})

    results = {}
    with lazy_progress(err, "simulating", None) as bar:
        for name, e in per_trace.items():
            results[name] = compare_trace(e, policies, bar.advance)
    report = {
        "base_slo_s": round(experiment.base_slo, 6),
        "slo_scale": args.slo_scale,
        "target": experiment.target,
        "setup": {
            "cluster": cluster_file.name,
            "rates": list(experiment.rates),
            "seeds": list(experiment.seeds),
            "config": vars(experiment.config),
        },
        "traces": {name: trace_report(per_trace[name], scales, r) for name, r in results.items()},
    }
    if out is not None:
        write_outputs(out, experiment, results, report, cluster_file.stem)
    if args.json:
        print(report_json(report))
    else:
        render(report, console)


def write_outputs(out: Path, experiment: Experiment, results: dict, report: dict, cluster: str) -> None:
    from hexsim.atomic import atomic_write_text
    from hexsim.metrics.plots import plot_attainment, plot_latency_cdf, plot_throughput
    from hexsim.metrics.report import report_json

    first = {trace: {p: r.by_rate[0] for p, r in by_policy.items()} for trace, by_policy in results.items()}
    rate = f"{experiment.rates[0]:g} q/s"
    plot_attainment(out / "attainment.png", first, experiment.base_slo, f"SLO attainment on {cluster}, {rate}")
    plot_latency_cdf(out / "latency_cdf.png", first, f"End-to-end latency on {cluster}, {rate}")
    throughput = {trace: {p: r.throughput for p, r in by_policy.items()} for trace, by_policy in results.items()}
    plot_throughput(out / "throughput.png", throughput, f"Throughput at 95% attainment, SLO x{experiment.slo_scale:g}")
    atomic_write_text(out / "report.json", report_json(report) + "\n")


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def render(report: dict, console: Console) -> None:
    from rich.table import Table

    base, scale = report["base_slo_s"], report["slo_scale"]
    console.print(
        f"Base SLO {base:.1f} s (standard CHESS workflow, standalone, averaged over the cluster). "
        f"Throughput: highest rate with >= {report['target']:.0%} of queries within {scale:g} x base SLO."
    )
    seeds = report["setup"]["seeds"]
    if len(seeds) > 1:
        console.print(f"Every number pools the queries of {len(seeds)} arrival samples (seeds {seeds[0]}-{seeds[-1]}).")
    for trace, t in report["traces"].items():
        table = Table(title=f"{trace} at {t['reference_rate']:g} q/s")
        for column in (
            "policy",
            "deadline p95",
            "deadline p99",
            "p95",
            "throughput",
            "vs vllm d95/thr",
            "vs lor d95/thr",
        ):
            table.add_column(column, justify="left" if column == "policy" else "right")
        for name, p in t["policies"].items():
            d95, d99 = p["deadline_p95_s"], p["deadline_p99_s"]
            ratios = [p.get(f"ratios_vs_{b}") for b in ("vllm", "lor")]
            table.add_row(
                name,
                "-" if d95 is None else f"{d95:.1f}s ({p['deadline_p95_scale']:.2f}x)",
                "-" if d99 is None else f"{d99:.1f}s ({p['deadline_p99_scale']:.2f}x)",
                "-" if p["p95_s"] is None else f"{p['p95_s']:.1f}s",
                f"{p['throughput_p95_qps']:.4f} q/s",
                *("-" if r is None else f"{_x(r['deadline_p95'])}/{_x(r['throughput_p95'])}" for r in ratios),
            )
        console.print(table)
