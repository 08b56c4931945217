"""Simulator speed: 10,000 generated queries on an 8-instance heterogeneous cluster.

    python benchmarks/bench_simulator.py [--queries 10000] [--rate 0.2] [--policy lor]

Reports wall time, simulated calls per second, engine events per call, and the wall-time
change when every output length is doubled (the engine must not step through decoding).
"""

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from hexsim.cluster import load_cluster
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.template import WorkflowTemplate
from hexsim.sim.simulate import simulate
from hexsim.workload.arrivals import with_arrivals
from hexsim.workload.chess_stats import default_stats
from hexsim.workload.generator import generate_chess_trace
from hexsim.workload.model import Query, Stage

CLUSTER = Path(__file__).with_name("cluster8.toml")


def doubled(query: Query) -> Query:
    stages = tuple(Stage(tuple(replace(c, output_tokens=2 * c.output_tokens) for c in s.calls)) for s in query.stages)
    return replace(query, stages=stages)


def timed(cluster, queries, policy, slo):
    template = WorkflowTemplate.from_queries(queries)
    start = time.perf_counter()
    records = simulate(cluster, queries, policy, slo, template=template)
    return time.perf_counter() - start, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=0.1, help="arrival rate, queries/s (default 0.1, ~75%% load)")
    parser.add_argument("--policy", default="lor")
    parser.add_argument("--repeat", type=int, default=5, help="runs per case; the fastest is reported (default 5)")
    args = parser.parse_args()

    cluster = load_cluster(CLUSTER)
    policy = get_policy(args.policy)
    trace = generate_chess_trace(default_stats(), args.queries, np.random.default_rng(0))
    queries = with_arrivals(trace, "poisson", args.rate, np.random.default_rng(0))
    long_queries = [doubled(q) for q in queries]

    table = Table(title=f"{args.queries} queries, {len(cluster.instances)} instances, {args.policy}, {args.rate} q/s")
    for column in ("outputs", "calls", "wall s", "calls/s", "events/call", "p50 latency s"):
        table.add_column(column, justify="right")
    walls = []
    for label, workload in (("as generated", queries), ("doubled", long_queries)):
        runs = [timed(cluster, workload, policy, 1e9) for _ in range(args.repeat)]
        wall, records = min(runs, key=lambda r: r[0])
        walls.append(wall)
        calls = len(records.calls)
        events = sum(i.segments for i in records.instances) + len(records.queries)
        p50 = float(np.median([q.latency for q in records.queries]))
        table.add_row(label, str(calls), f"{wall:.2f}", f"{calls / wall:,.0f}", f"{events / calls:.2f}", f"{p50:.1f}")
    console = Console()
    console.print(table)
    console.print(f"wall-time change with doubled outputs: {walls[1] / walls[0] - 1:+.1%}")


if __name__ == "__main__":
    main()
