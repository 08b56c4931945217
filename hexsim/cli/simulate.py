"""`hexsim simulate`: replay a trace through one or more policies on a simulated cluster."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from hexsim.cli.base_slo import add_base_slo
from hexsim.cli.options import (
    add_arrivals,
    add_cluster,
    add_config,
    add_policies,
    add_rate,
    add_seed,
    add_slo_scale,
    add_template,
    add_trace,
    described_arrivals,
    flags,
)
from hexsim.defaults import DEFAULT_RATE, DEFAULT_SLO_SCALE

if TYPE_CHECKING:
    from rich.console import Console


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="replay a trace through scheduling policies on a simulated cluster",
        description="Replay a Text-to-SQL workflow trace through one or more scheduling policies on a "
        "simulated heterogeneous cluster and report SLO attainment, latency deadlines and percentiles. "
        "With no arguments: the bundled trace on the paper's cluster (Llama-3.1-70B on A100, A100, "
        "A6000, L40S), every registered policy.",
    )
    add_cluster(p)
    add_trace(p)
    add_rate(p, DEFAULT_RATE)
    add_arrivals(p)
    add_policies(p, "policy to run")
    add_slo_scale(p, DEFAULT_SLO_SCALE)
    add_base_slo(p)
    add_seed(p, "random seed of the arrival process")
    add_config(p)
    add_template(p)
    p.add_argument("--json", action="store_true", help="print one machine-readable JSON report on stdout")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="write each policy's per-query and per-call CSVs and its scheduler decision log (JSONL) into DIR",
    )
    p.add_argument("--timeline", metavar="FILE", help="write a Chrome/Perfetto trace JSON of every batch")
    p.set_defaults(run=run, flags=flags(p))


def run(args: argparse.Namespace, console: Console, err: Console) -> None:
    import shutil
    import tempfile
    from contextlib import ExitStack

    from hexsim.cli.outputs import output_file, output_folder

    out = output_folder("--out", args.out) if args.out is not None else None
    timeline = output_file("--timeline", args.timeline) if args.timeline is not None else None

    from hexsim.atomic import atomic_open
    from hexsim.cli import setup
    from hexsim.metrics.export import write_run_csvs
    from hexsim.metrics.overload import CONSEQUENCE, overloaded
    from hexsim.metrics.report import policy_summary, render_report, report_json, simulate_report
    from hexsim.metrics.summary import DEFAULT_SCALES
    from hexsim.metrics.timeline import timeline_events, write_timeline
    from hexsim.progress import lazy_progress
    from hexsim.scheduler.log import DecisionLog
    from hexsim.scheduler.registry import POLICIES, get_policy
    from hexsim.sim.simulate import simulate

    cluster_file, trace_file = setup.cluster_file(args), setup.trace_file(args)
    cluster, trace = setup.cluster(args), setup.trace(args)
    policies = [get_policy(name) for name in (args.policy or list(POLICIES))]
    experiment = setup.load_experiment(
        args,
        cluster,
        trace,
        config=setup.scheduler_config(args),
        rates=(args.rate,),
        arrivals=args.arrivals,
        cv=args.cv,
        base_slo_rule=args.base_slo,
    )
    queries = experiment.sample(args.rate, args.seed)
    scales = sorted(set(DEFAULT_SCALES) | {args.slo_scale})

    summaries = {}
    runs = []
    events: list[dict] = []
    names = [inst.name for inst in cluster.instances]
    with ExitStack() as stack:
        # Decision logs wait in anonymous temporary files: a run that fails leaves no --out folder.
        logs = [
            stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8", newline="")) if out else None
            for _ in policies
        ]
        for index, (policy, log) in enumerate(zip(policies, logs, strict=True)):
            segments: list | None = [] if timeline else None
            with lazy_progress(err, f"simulating {policy.name}", len(queries)) as bar:
                records = simulate(
                    cluster,
                    queries,
                    policy,
                    experiment.slo,
                    config=experiment.config,
                    template=experiment.template,
                    timeline=segments,
                    log=None if log is None else DecisionLog(log, names),
                    on_query_done=lambda _: bar.advance(),
                )
            runs.append(records)
            summaries[policy.name] = policy_summary(records, experiment.bases, scales)
            if segments is not None:
                events += timeline_events(index, policy.name, names, segments)
        if out is not None:
            for records, log in zip(runs, logs, strict=True):
                write_run_csvs(records, out)
                log.seek(0)
                with atomic_open(out / f"decisions_{records.policy}.jsonl") as handle:
                    shutil.copyfileobj(log, handle)

    rate, arrivals = described_arrivals(args)
    report_setup = {
        "cluster": cluster_file.name,
        "instances": len(cluster.instances),
        "trace": trace_file.name,
        "arrivals": arrivals,
        "seed": args.seed,
    }
    report = simulate_report(
        experiment.base_slo,
        args.slo_scale,
        summaries,
        report_setup,
        experiment.base_slo_rule,
        experiment.base_slos,
    )
    if timeline is not None:
        write_timeline(timeline, events)
    if args.json:
        print(report_json(report))
    else:
        render_report(report, console)
    said = err if args.json else console
    if out is not None:
        said.print(
            f"wrote {out}{os.sep}: queries_POLICY.csv, calls_POLICY.csv and decisions_POLICY.jsonl for "
            + ", ".join(r.policy for r in runs),
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    if timeline is not None:
        said.print(
            f"wrote {timeline}: every batch of every instance, for ui.perfetto.dev",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    for records in runs:
        if overloaded(records.queries):
            err.print(
                f"hexsim: warning: {records.policy}: the cluster cannot keep up with {rate}; {CONSEQUENCE}",
                soft_wrap=True,
                highlight=False,
                markup=False,
            )
