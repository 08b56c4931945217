"""`hexsim compare`: policies side by side, per trace, as the paper reports them."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from hexsim.cli.base_slo import add_base_slo
from hexsim.cli.options import (
    add_cluster,
    add_config,
    add_policies,
    add_prefix_model,
    add_seed,
    add_slo_scale,
    add_template,
    flags,
    positive_float,
    positive_int,
)
from hexsim.defaults import DEFAULT_RATE, SUSTAINED_SPAN_SLOS, THROUGHPUT_SLO_SCALE

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
        "(highest Poisson arrival rate found by bisection over simulations of sustained load: queries "
        "resampled from the trace, arriving over at least --span-slos SLOs), P95 latency, and ratios against vllm "
        "and lor.",
    )
    add_cluster(p)
    p.add_argument("--trace", action="append", metavar="FILE", help="trace file; repeat for several (default: bundled)")
    add_prefix_model(p)
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
    add_base_slo(p)
    p.add_argument(
        "--span-slos",
        type=positive_float,
        default=SUSTAINED_SPAN_SLOS,
        metavar="N",
        help="the throughput search's sustained load: arrivals over at least N SLOs, queries resampled from the "
        f"trace; fewer is faster and noisier (default {SUSTAINED_SPAN_SLOS:g})",
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
    from pathlib import Path

    from hexsim.cli.outputs import output_folder

    out = output_folder("--out", args.out) if args.out is not None else None

    from itertools import count

    from hexsim.cli import setup
    from hexsim.experiment import Experiment
    from hexsim.metrics.overload import CONSEQUENCE, overloaded
    from hexsim.metrics.report import report_json
    from hexsim.metrics.summary import DEFAULT_SCALES
    from hexsim.progress import lazy_progress
    from hexsim.resources import default_trace
    from hexsim.scheduler.registry import POLICIES, get_policy
    from hexsim.sim.comparison import compare_trace, trace_report

    cluster_file = setup.cluster_file(args)
    cluster = setup.cluster(args)
    traces = setup.traces(args)
    paths = {path.stem: path for path in (Path(t) for t in args.trace or [default_trace()])}
    for name, queries in traces.items():
        setup.check_calls_fit(paths[name], queries, cluster)
    files = {name: path.name for name, path in paths.items()}
    policies = [get_policy(name).name for name in (args.policy or list(POLICIES))]
    # Everything but the queries (and, under the trace rule, the base SLO) is the same for every trace.
    experiment = Experiment.create(
        cluster,
        next(iter(traces.values())),
        setup.template(args),
        base_slo_rule=args.base_slo,
        config=setup.scheduler_config(args),
        rates=tuple(args.rates),
        seeds=setup.seeds(args),
        slo_scale=args.slo_scale,
    )
    per_trace = {name: experiment.with_queries(queries) for name, queries in traces.items()}
    scales = sorted(set(DEFAULT_SCALES) | {args.slo_scale})

    # The throughput search takes as many simulations as its bracketing needs: the bar counts
    # (trace, policy) comparisons, and its description the simulations so far.
    results: dict[str, dict] = {}
    simulations = count(1)
    with lazy_progress(err, "comparing", len(per_trace) * len(policies)) as bar:
        for name, e in per_trace.items():
            results[name] = {}
            for policy in policies:
                step = f"{files[name]}, {policy}"
                bar.describe(step)
                results[name] |= compare_trace(
                    e,
                    [policy],
                    lambda s=step: bar.describe(f"{s}, {next(simulations)} runs"),
                    span_slos=args.span_slos,
                )
                bar.advance()
    report = {
        "base_slo_rule": experiment.base_slo_rule,
        "slo_scale": args.slo_scale,
        "target": experiment.target,
        "setup": {
            "cluster": cluster_file.name,
            "rates": list(experiment.rates),
            "seeds": list(experiment.seeds),
            "span_slos": args.span_slos,
            "config": vars(experiment.config),
        },
        "traces": {name: trace_report(per_trace[name], scales, r) for name, r in results.items()},
    }
    if out is not None:
        write_outputs(out, per_trace, results, report, files, cluster_file.name)
    if args.json:
        print(report_json(report))
    else:
        render(report, console, files)
    if out is not None:
        (err if args.json else console).print(
            f"wrote {out}{os.sep}: report.json, attainment.png, latency_cdf.png and throughput.png",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    for name, by_policy in results.items():
        for i, rate in enumerate(experiment.rates):
            behind = [p for p, r in by_policy.items() if overloaded(r.by_rate[i])]
            if behind:
                err.print(
                    f"hexsim: warning: {files[name]} at {rate:g} q/s: the cluster cannot keep up under "
                    f"{', '.join(behind)}; {CONSEQUENCE}",
                    soft_wrap=True,
                    highlight=False,
                    markup=False,
                )


def write_outputs(
    out: Path, per_trace: dict[str, Experiment], results: dict, report: dict, files: dict, cluster: str
) -> None:
    """report.json and the figures: attainment and latency panels per trace and rate, throughput per trace."""
    from hexsim.atomic import atomic_write_text
    from hexsim.metrics.plots import plot_attainment, plot_latency_cdf, plot_throughput
    from hexsim.metrics.report import report_json

    experiment = next(iter(per_trace.values()))
    rates = experiment.rates
    panels = {
        f"{files[trace]}, {rate:g} q/s": {p: r.by_rate[i] for p, r in by_policy.items()}
        for trace, by_policy in results.items()
        for i, rate in enumerate(rates)
    }
    bases = {f"{files[trace]}, {rate:g} q/s": per_trace[trace].bases for trace in results for rate in rates}
    # One row of panels per trace, one column per rate.
    columns = min(len(rates), 4) if len(rates) > 1 else None
    plot_attainment(out / "attainment.png", panels, bases, f"SLO attainment on {cluster}", columns)
    plot_latency_cdf(out / "latency_cdf.png", panels, f"End-to-end latency on {cluster}", columns)
    throughput = {files[t]: {p: r.throughput for p, r in by_policy.items()} for t, by_policy in results.items()}
    bounds = {files[t]: {p: r.bound for p, r in by_policy.items()} for t, by_policy in results.items()}
    plot_throughput(
        out / "throughput.png",
        throughput,
        f"Throughput: highest sustained rate with {experiment.target:.0%} of queries within "
        f"{experiment.slo_scale:g} x base SLO ({experiment.base_slo_rule}), on {cluster}",
        bounds,
    )
    atomic_write_text(out / "report.json", report_json(report) + "\n")


def render(report: dict, console: Console, files: dict[str, str]) -> None:
    """Every number of the report, policies side by side: a table per trace and rate, one of throughput per trace."""
    from rich.text import Text

    from hexsim.metrics.report import (
        DEADLINE_LEGEND,
        WORKFLOW_DEADLINE_LEGEND,
        describe_base_slo,
        describe_config,
        describe_workflows,
        share,
    )
    from hexsim.metrics.tables import print_table
    from hexsim.metrics.throughput import Throughput
    from hexsim.sim.comparison import BASELINES

    rule, scale, setup = report["base_slo_rule"], report["slo_scale"], report["setup"]
    seeds = setup["seeds"]
    config = describe_config({k: v for k, v in setup["config"].items() if k != "policy"})
    samples = (
        f"every number pools the queries of {len(seeds)} arrival samples (seeds {seeds[0]}-{seeds[-1]})"
        if len(seeds) > 1
        else f"one arrival sample (seed {seeds[0]})"
    )
    console.print(Text(f"{setup['cluster']}: scheduler settings {config}; {samples}."))
    console.print()
    for trace, t in report["traces"].items():
        base = describe_base_slo(t["base_slo_s"], rule, "the cluster's instances")
        console.print(Text(f"{files[trace]}: {base}."))
        console.print()
        policies = t["policies"]
        names = list(policies)
        rates = list(policies[names[0]]["by_rate"])
        workflows = {name: w["base_slo_s"] for name, w in t.get("workflows", {}).items()}
        if workflows:
            console.print(Text(f"{files[trace]}: {describe_workflows(workflows)}."))
            console.print()
        within = "their workflow's base SLO" if workflows else "base SLO"
        for rate in rates:
            at = {n: policies[n]["by_rate"][rate] for n in names}
            print_table(
                console,
                f"{files[trace]} at {rate} q/s",
                ["", *names],
                [
                    *_latency_rows(at, names),
                    ["prefix cache hits", *(share(at[n]["prefix_cache_hit_rate"]) for n in names)],
                ],
                legend=[
                    f"attainment at Nx: share of queries within N x {within}. "
                    f"{WORKFLOW_DEADLINE_LEGEND if workflows else DEADLINE_LEGEND} prefix cache hits: "
                    "share of new requests' prompt tokens found in the engines' prefix caches."
                ],
            )
            for workflow, base in workflows.items():
                of = {n: at[n]["workflows"][workflow] for n in names}
                print_table(
                    console,
                    f"{files[trace]} at {rate} q/s, workflow {workflow} (base SLO {base:.1f} s)",
                    ["", *names],
                    _latency_rows(of, names),
                )
        found = {n: Throughput(policies[n]["throughput_p95_qps"], policies[n]["throughput_p95_bound"]) for n in names}
        rows = [["throughput (q/s)", *(found[n].describe() for n in names)]]
        for baseline in BASELINES:
            ratios = [policies[n].get(f"ratios_vs_{baseline}") for n in names]
            if any(ratios):
                for key, label in (
                    ("deadline_p95", "deadline p95"),
                    ("deadline_p99", "deadline p99"),
                    ("throughput_p95", "throughput"),
                ):
                    rows.append([f"{label} vs {baseline}", *(_ratio(r, key) for r in ratios)])
        print_table(
            console,
            f"{files[trace]}: throughput, and ratios to the baselines at {rates[0]} q/s",
            ["", *names],
            rows,
            legend=[
                f"throughput: the highest Poisson rate at which {report['target']:.0%} of the queries stay within "
                f"{scale:g} x {within} under sustained load (queries resampled from the trace, arriving over at least "
                f"{setup['span_slos']:g} SLOs{' of the mix' if workflows else ''}); 'at least': the search's highest "
                "rate still met it; 'below': its lowest missed it. Ratios above 1x are better than the baseline: its "
                "deadline over the policy's, the policy's throughput over its (- where either throughput is a bound)."
            ],
        )


def _latency_rows(at: dict[str, dict], names: list[str]) -> list[list[str]]:
    """Attainment at every scale, deadlines and P95 latency of each policy's summary in `at`."""
    from hexsim.metrics.report import seconds, times_base

    return [
        *(
            [f"attainment at {s}x", *(f"{at[n]['attainment'][s]:.1%}" for n in names)]
            for s in at[names[0]]["attainment"]
        ),
        ["deadline p95 (s)", *(seconds(at[n]["deadline_p95_s"]) for n in names)],
        ["deadline p95 (x base)", *(times_base(at[n]["deadline_p95_scale"]) for n in names)],
        ["deadline p99 (s)", *(seconds(at[n]["deadline_p99_s"]) for n in names)],
        ["deadline p99 (x base)", *(times_base(at[n]["deadline_p99_scale"]) for n in names)],
        ["latency p95 (s)", *(seconds(at[n]["p95_s"]) for n in names)],
    ]


def _ratio(ratios: dict | None, key: str) -> str:
    return "-" if ratios is None or ratios[key] is None else f"{ratios[key]:.2f}x"
