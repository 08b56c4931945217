"""Simulator speed: 10,000 generated queries on an 8-instance heterogeneous cluster.

    python benchmarks/bench_simulator.py [--queries 10000] [--rate 0.2] [--policy lor]

The queries carry CHESS's shared prompt segments (`prefixes/chess.toml`). Reports wall time,
simulated calls per second, engine events per call, prefix cache hits, and the wall-time change
when prefix caching is turned off, when every output length is doubled (the engine must not step
through decoding) and when every prompt and segment is doubled (the prefix cache must not walk
tokens).
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
from hexsim.workload.model import Query, Segment, Stage
from hexsim.workload.prefixes import with_prefix_model

CLUSTER = Path(__file__).with_name("cluster8.toml")


def doubled(query: Query) -> Query:
    stages = tuple(Stage(tuple(replace(c, output_tokens=2 * c.output_tokens) for c in s.calls)) for s in query.stages)
    return replace(query, stages=stages)


def longer_prompts(query: Query) -> Query:
    def call(c):
        prefix = tuple(Segment(s.key, 2 * s.tokens) for s in c.prefix)
        return replace(c, input_tokens=2 * c.input_tokens, prefix=prefix)

    return replace(query, stages=tuple(Stage(tuple(call(c) for c in s.calls)) for s in query.stages))


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
    no_caching = replace(cluster, instances=tuple(replace(i, prefix_caching=False) for i in cluster.instances))
    policy = get_policy(args.policy)
    trace = with_prefix_model(generate_chess_trace(default_stats(), args.queries, np.random.default_rng(0)), "chess")
    queries = with_arrivals(trace, "poisson", args.rate, np.random.default_rng(0))
    cases = {
        "as generated": (cluster, queries),
        "caching off": (no_caching, queries),
        "outputs x2": (cluster, [doubled(q) for q in queries]),
        "prompts x2": (cluster, [longer_prompts(q) for q in queries]),
    }

    table = Table(title=f"{args.queries} queries, {len(cluster.instances)} instances, {args.policy}, {args.rate} q/s")
    for column in ("case", "calls", "wall s", "calls/s", "events/call", "hit rate", "p50 latency s"):
        table.add_column(column, justify="right")
    walls = {}
    for label, (spec, workload) in cases.items():
        runs = [timed(spec, workload, policy, 1e9) for _ in range(args.repeat)]
        wall, records = min(runs, key=lambda r: r[0])
        walls[label] = wall
        calls = len(records.calls)
        events = sum(i.segments for i in records.instances) + len(records.queries)
        hits = sum(i.prefix_hits for i in records.instances) / max(sum(i.prefix_queries for i in records.instances), 1)
        p50 = float(np.median([q.latency for q in records.queries]))
        row = (label, str(calls), f"{wall:.2f}", f"{calls / wall:,.0f}", f"{events / calls:.2f}", f"{hits:.0%}")
        table.add_row(*row, f"{p50:.1f}")
    console = Console()
    console.print(table)
    base = walls["as generated"]
    console.print(f"prefix caching on / off: {base / walls['caching off']:.2f}x wall time")
    console.print(f"wall-time change with doubled outputs: {walls['outputs x2'] / base - 1:+.1%}")
    console.print(f"wall-time change with doubled prompts: {walls['prompts x2'] / base - 1:+.1%}")


if __name__ == "__main__":
    main()
