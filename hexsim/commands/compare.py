"""`hexsim compare`: policies side by side, per trace, as the paper reports them."""

from argparse import Namespace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hexsim.atomic import atomic_write_text
from hexsim.cluster import load_cluster
from hexsim.commands.simulate import DEFAULT_RATE
from hexsim.errors import InputError
from hexsim.metrics.base_slo import base_slo
from hexsim.metrics.plots import plot_attainment, plot_latency_cdf, plot_throughput
from hexsim.metrics.report import report_json
from hexsim.metrics.summary import DEFAULT_SCALES
from hexsim.progress import lazy_progress
from hexsim.resources import default_cluster, default_trace
from hexsim.scheduler.config import SchedulerConfig, load_scheduler_config
from hexsim.scheduler.registry import POLICIES, get_policy
from hexsim.scheduler.template import default_template, load_template
from hexsim.sim.comparison import ComparisonSetup, compare_trace, trace_report
from hexsim.workload.traces import load_trace

THROUGHPUT_SLO_SCALE = 3.0


def run(args: Namespace, console: Console, err: Console) -> None:
    cluster_path = Path(args.cluster) if args.cluster else default_cluster()
    cluster = load_cluster(cluster_path)
    trace_paths = [Path(t) for t in args.trace] if args.trace else [default_trace()]
    traces = {path.stem: load_trace(path) for path in trace_paths}
    if len(traces) < len(trace_paths):
        raise InputError("--trace", "two traces have the same file name; rename one")
    policies = [get_policy(name) for name in (args.policy or list(POLICIES))]
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise InputError("--out", f"{args.out!r} exists and is not a folder")
    base = base_slo(inst.profile for inst in cluster.instances)
    setup = ComparisonSetup(
        cluster=cluster,
        policies=policies,
        config=load_scheduler_config(args.config) if args.config else SchedulerConfig(),
        template=load_template(args.template) if args.template else default_template(),
        base_slo=base,
        rates=args.rates or [DEFAULT_RATE],
        slo_scale=args.slo_scale,
        scales=sorted(set(DEFAULT_SCALES) | {args.slo_scale}),
        seeds=tuple(range(args.seed, args.seed + args.seeds)),
    )

    results = {}
    with lazy_progress(err, "simulating", None) as bar:
        for name, queries in traces.items():
            results[name] = compare_trace(setup, queries, bar.advance)
    report = {
        "base_slo_s": round(base, 6),
        "slo_scale": args.slo_scale,
        "target": setup.target,
        "setup": {
            "cluster": cluster_path.name,
            "rates": list(setup.rates),
            "seeds": list(setup.seeds),
            "config": vars(setup.config),
        },
        "traces": {name: trace_report(setup, r) for name, r in results.items()},
    }
    if out is not None:
        write_outputs(out, setup, results, report, cluster_path.stem)
    if args.json:
        print(report_json(report))
    else:
        render(report, console)


def write_outputs(out: Path, setup: ComparisonSetup, results: dict, report: dict, cluster: str) -> None:
    first = {trace: {p: r.by_rate[0] for p, r in by_policy.items()} for trace, by_policy in results.items()}
    rate = f"{setup.rates[0]:g} q/s"
    plot_attainment(out / "attainment.png", first, setup.base_slo, f"SLO attainment on {cluster}, {rate}")
    plot_latency_cdf(out / "latency_cdf.png", first, f"End-to-end latency on {cluster}, {rate}")
    throughput = {trace: {p: r.throughput for p, r in by_policy.items()} for trace, by_policy in results.items()}
    plot_throughput(out / "throughput.png", throughput, f"Throughput at 95% attainment, SLO x{setup.slo_scale:g}")
    atomic_write_text(out / "report.json", report_json(report) + "\n")


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def render(report: dict, console: Console) -> None:
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
