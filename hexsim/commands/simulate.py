"""`hexsim simulate`: replay a trace through one or more policies on a simulated cluster."""

from argparse import Namespace
from pathlib import Path

import numpy as np
from rich.console import Console

from hexsim.cluster import load_cluster
from hexsim.errors import InputError
from hexsim.metrics.base_slo import base_slo
from hexsim.metrics.export import write_run_csvs
from hexsim.metrics.report import policy_summary, render_report, report_json, simulate_report
from hexsim.metrics.summary import DEFAULT_SCALES
from hexsim.metrics.timeline import timeline_events, write_timeline
from hexsim.progress import lazy_progress
from hexsim.resources import default_cluster, default_trace
from hexsim.scheduler.config import SchedulerConfig, load_scheduler_config
from hexsim.scheduler.registry import POLICIES, get_policy
from hexsim.scheduler.template import default_template, load_template
from hexsim.sim.simulate import simulate
from hexsim.workload.arrivals import with_arrivals
from hexsim.workload.traces import load_trace

DEFAULT_RATE = 0.03
DEFAULT_SLO_SCALE = 2.0


def run(args: Namespace, console: Console, err: Console) -> None:
    cluster_path = Path(args.cluster) if args.cluster else default_cluster()
    trace_path = Path(args.trace) if args.trace else default_trace()
    cluster = load_cluster(cluster_path)
    trace = load_trace(trace_path)
    policies = [get_policy(name) for name in (args.policy or list(POLICIES))]
    config = load_scheduler_config(args.config) if args.config else SchedulerConfig()
    template = load_template(args.template) if args.template else default_template()
    if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
        raise InputError("--out", f"{args.out!r} exists and is not a folder")
    queries = with_arrivals(trace, args.arrivals, args.rate, np.random.default_rng(args.seed), cv=args.cv)
    base = base_slo(inst.profile for inst in cluster.instances)
    slo = args.slo_scale * base
    scales = sorted(set(DEFAULT_SCALES) | {args.slo_scale})

    summaries = {}
    runs = []
    events: list[dict] = []
    for index, policy in enumerate(policies):
        segments: list | None = [] if args.timeline else None
        with lazy_progress(err, f"simulating {policy.name}", len(queries)) as bar:
            records = simulate(
                cluster,
                queries,
                policy,
                slo,
                config=config,
                template=template,
                timeline=segments,
                on_query_done=lambda _: bar.advance(),
            )
        runs.append(records)
        summaries[policy.name] = policy_summary(records, base, scales)
        if segments is not None:
            events += timeline_events(index, policy.name, [i.name for i in cluster.instances], segments)

    arrivals = "trace arrivals" if args.arrivals == "trace" else f"{args.arrivals} arrivals at {args.rate:g} q/s"
    setup = {
        "cluster": cluster_path.name,
        "instances": len(cluster.instances),
        "trace": trace_path.name,
        "arrivals": arrivals,
        "seed": args.seed,
    }
    report = simulate_report(base, args.slo_scale, summaries, setup)
    if args.out is not None:
        for records in runs:
            write_run_csvs(records, Path(args.out))
    if args.timeline:
        write_timeline(Path(args.timeline), events)
    if args.json:
        print(report_json(report))
    else:
        render_report(report, console)
