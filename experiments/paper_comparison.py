"""Reproduce the HexGen-Text2SQL paper's comparison in simulation.

    python experiments/paper_comparison.py [--rates 0.01 0.02 0.03] [--slo-scale 3] [--seed 0] [--seeds 3]

Llama-3.1-70B on the paper's two clusters ({A100, A100, A6000, L40S} and {A100, A6000,
A100, A6000}), the three published CHESS traces when ../shared/data is beside the checkout
(else the bundled trace), every policy at several Poisson arrival rates, each over several
arrival samples whose queries are pooled. Writes
experiments/results/paper_comparison.md, report JSON and figures, and sets hexgen's ratios
beside the paper's headline numbers.
"""

import argparse
import json
import statistics
from pathlib import Path

from hexsim.atomic import atomic_write_text
from hexsim.cluster import load_cluster
from hexsim.experiment import Experiment
from hexsim.metrics.plots import plot_attainment, plot_latency_cdf, plot_throughput
from hexsim.metrics.summary import DEFAULT_SCALES
from hexsim.metrics.throughput import Throughput
from hexsim.resources import bundled_dir
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.registry import POLICIES
from hexsim.sim.comparison import compare_trace, trace_report
from hexsim.sim.throughput import SPAN_SLOS
from hexsim.workload.traces import load_trace
from traces import trace_paths

HERE = Path(__file__).resolve().parent
CLUSTERS = {"A100+A100+A6000+L40S": "paper.toml", "A100+A6000+A100+A6000": "paper-alt.toml"}
PAPER = {"deadline": (1.41, 1.67), "throughput": (1.65, 1.75)}


def traces(prefix_model: str) -> dict:
    return {path.stem: load_trace(path, prefix_model=prefix_model) for path in trace_paths()}


def ratio_cells(values: list) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "- | -"
    return f"{statistics.mean(known):.2f}x | {max(known):.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", nargs="+", type=float, default=[0.01, 0.02, 0.03], help="queries/s")
    parser.add_argument("--slo-scale", type=float, default=3.0, help="SLO scale for throughput (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="first seed of the Poisson arrivals (default 0)")
    parser.add_argument("--seeds", type=int, default=3, help="arrival samples, pooled (default 3)")
    parser.add_argument(
        "--prefix-model",
        default="none",
        help="shared prompt segments of the calls, for the engines' prefix caches: none (default, every prompt "
        "computed whole) or a preset such as chess",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    workloads = traces(args.prefix_model)
    lines = [
        "# HexGen-Text2SQL comparison, simulated by hexsim",
        "",
        "Command: `python experiments/paper_comparison.py "
        + f"--rates {' '.join(f'{r:g}' for r in args.rates)} --slo-scale {args.slo_scale:g} "
        + f"--seed {args.seed} --seeds {args.seeds} --prefix-model {args.prefix_model}`",
        "",
        f"Traces: {', '.join(workloads)}. Policies: {', '.join(POLICIES)} with the default "
        f"`[scheduler]` config ({SchedulerConfig()}). Deadlines are latency deadlines at 95% "
        f"attainment; throughput is the highest Poisson rate with 95% of queries within "
        f"{args.slo_scale:g} x base SLO under sustained load (queries resampled from the trace, arriving over "
        f"at least {SPAN_SLOS} SLOs). The base SLO is the standard CHESS workflow's standalone latency. "
        "Ratios: baseline deadline / policy deadline, policy throughput / baseline throughput (> 1: the policy "
        "is better). Mean and max over traces "
        f"and rates (throughput: over traces). Every number pools the queries of {args.seeds} arrival "
        f"sample(s), seeds {args.seed}-{args.seed + args.seeds - 1}.",
        "",
    ]
    report = {}
    for label, file in CLUSTERS.items():
        # The paper's yardstick for every trace: the standard CHESS workflow alone on the cluster.
        setup = Experiment.create(
            load_cluster(bundled_dir("clusters") / file),
            (),
            base_slo_rule="chess",
            rates=tuple(args.rates),
            slo_scale=args.slo_scale,
            seeds=tuple(range(args.seed, args.seed + args.seeds)),
        )
        base = setup.base_slo
        scales = sorted(set(DEFAULT_SCALES) | {args.slo_scale})
        results = {
            name: compare_trace(setup.with_queries(queries), list(POLICIES)) for name, queries in workloads.items()
        }
        reports = {name: trace_report(setup, scales, r) for name, r in results.items()}
        report[label] = {"base_slo_s": base, "traces": reports}

        stem = file.removesuffix(".toml")
        first = {t: {p: r.by_rate[0] for p, r in by_p.items()} for t, by_p in results.items()}
        plot_attainment(args.out / f"attainment_{stem}.png", first, base, f"{label}, {args.rates[0]:g} q/s")
        plot_latency_cdf(args.out / f"latency_cdf_{stem}.png", first, f"{label}, {args.rates[0]:g} q/s")
        throughput = {t: {p: r.throughput for p, r in by_p.items()} for t, by_p in results.items()}
        bounds = {t: {p: r.bound for p, r in by_p.items()} for t, by_p in results.items()}
        plot_throughput(args.out / f"throughput_{stem}.png", throughput, f"{label}, SLO x{args.slo_scale:g}", bounds)

        lines += [
            f"## {label} (base SLO {base:.1f} s, the standard CHESS workflow)",
            "",
            "| policy | deadline vs vllm: mean | max | throughput vs vllm: mean | max "
            "| deadline vs lor: mean | max | throughput vs lor: mean | max |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for policy in POLICIES:
            cells = []
            for baseline in ("vllm", "lor"):
                deadline = [
                    _deadline_ratio(reports[t]["policies"], policy, baseline, rate)
                    for t in reports
                    for rate in args.rates
                ]
                thr = [reports[t]["policies"][policy][f"ratios_vs_{baseline}"]["throughput_p95"] for t in reports]
                cells += [ratio_cells(deadline), ratio_cells(thr)]
            lines.append(f"| {policy} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "| trace | policy | throughput q/s | " + " | ".join(f"deadline p95 @ {r:g} q/s" for r in args.rates) + " |",
            "|---|---|---|" + "---|" * len(args.rates),
        ]
        for t, rep in reports.items():
            for policy, p in rep["policies"].items():
                deadlines = [p["by_rate"][f"{r:g}"]["deadline_p95_s"] for r in args.rates]
                lines.append(
                    f"| {t} | {policy} | {Throughput(p['throughput_p95_qps'], p['throughput_p95_bound']).describe()} | "
                    + " | ".join("unmet" if d is None else f"{d:.1f} s" for d in deadlines)
                    + " |"
                )
        lines.append("")
    lines += [
        "## The paper's headline (against vLLM)",
        "",
        f"Latency deadlines {PAPER['deadline'][0]}x lower on average, up to {PAPER['deadline'][1]}x; "
        f"throughput {PAPER['throughput'][0]}x higher on average, up to {PAPER['throughput'][1]}x.",
        "",
    ]
    atomic_write_text(args.out / "paper_comparison.md", "\n".join(lines))
    atomic_write_text(args.out / "paper_comparison.json", json.dumps(report, indent=1, allow_nan=False) + "\n")
    print("\n".join(lines))


def _deadline_ratio(policies: dict, policy: str, baseline: str, rate: float) -> float | None:
    mine = policies[policy]["by_rate"][f"{rate:g}"]["deadline_p95_s"]
    theirs = policies[baseline]["by_rate"][f"{rate:g}"]["deadline_p95_s"]
    if mine is None or theirs is None:
        return None
    return theirs / mine


if __name__ == "__main__":
    main()
