"""Scheduler decision latency: one event through the gateway's adapter.

    python benchmarks/bench_decisions.py [--policy hexgen] [--ops 20000]
                                         [--waiting 1000]

A policy (default hexgen) with its default weights and the default template,
on 6 x A100, 5 x A6000 and 5 x L40S serving Llama-3.1-70B, driven through
`GatewayAdapter.send` as a gateway drives it. Each query is one stage of the
bundled trace (its step names, prompt tokens, and output tokens as
max_tokens). Every instance runs `--running` calls (the core's max_running
cap), so each call dispatched waits in the core's queues until a call on its
instance finishes and admits the most urgent one there: `--waiting` calls wait
throughout (up to 5 more while a 5-call stage's calls are replaced).

Each send is timed alone with time.perf_counter_ns, after a warm-up, with
the garbage collector enabled as the gateway runs it; the decision log, when
on, writes to /dev/null. Rows: StageReady of a 1-call stage (dispatch and
enqueue), of a 5-call stage (per call), CallFinished that admits the next
call, and a call's round trip (the sum of its QueryArrived, StageReady,
CallStarted, CallFinished and QueryFinished). The adapter's clock steps by
`--gap` seconds per call, so deadlines, and so the queues' order, are what
they would be live.
"""

import argparse
import gc
import os
import sys
import time
from collections import deque
from collections.abc import Iterator
from itertools import cycle

import numpy as np
from rich.console import Console
from rich.table import Table

from hexsim.cli.options import positive_float, positive_int
from hexsim.live.adapter import GatewayAdapter
from hexsim.metrics.base_slo import base_slo
from hexsim.profiles.gpus import canonical_gpu
from hexsim.profiles.resolve import canonical_model, resolve_profile
from hexsim.resources import default_trace
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.events import (
    Admit,
    CallFinished,
    CallId,
    CallSpec,
    CallStarted,
    Event,
    Fail,
    QueryArrived,
    QueryFinished,
    StageReady,
)
from hexsim.scheduler.log import DecisionLog
from hexsim.scheduler.registry import POLICIES, get_policy
from hexsim.scheduler.template import default_template
from hexsim.workload.traces import load_trace

MODEL = "Llama-3.1-70B"
CLUSTER = (("A100", 6), ("A6000", 5), ("L40S", 5))
PARALLEL = 5
ROWS = ("dispatch, 1-call stage", f"dispatch, {PARALLEL}-call, per call", "admit", "round trip of a call")


class TooFewWaiting(Exception):
    """The calls waiting do not keep every instance busy, so the benchmark's steady state does not hold."""


def trace_stages() -> tuple[list[tuple[CallSpec, ...]], list[tuple[CallSpec, ...]]]:
    """The bundled trace's 1-call stages and its 5-call stages, in trace order."""
    singles, parallel = [], []
    for query in load_trace(default_trace()):
        for stage in query.stages:
            specs = tuple(CallSpec(c.step, c.input_tokens, c.output_tokens) for c in stage.calls)
            if len(specs) == 1:
                singles.append(specs)
            elif len(specs) == PARALLEL:
                parallel.append(specs)
    return singles, parallel


class Gateway:
    """Drives the adapter as a gateway would: each query one stage, each finish on the instance just dispatched to.

    In a steady state each instance finishes calls as fast as it is sent them, so finishing the
    oldest admitted call on the instance of each call dispatched keeps every queue's length.
    """

    def __init__(self, policy: str, running: int, gap: float, log: bool):
        model = canonical_model(MODEL)
        instances = []
        for gpu, count in CLUSTER:
            profile = resolve_profile(model, canonical_gpu(gpu, "bench_decisions"), None, "bench_decisions")
            instances += [(f"{gpu.lower()}-{j}", profile) for j in range(count)]
        core = SchedulerCore(
            get_policy(policy), instances, default_template(), model, SchedulerConfig(policy, max_running=running)
        )
        self.sink = open(os.devnull, "w") if log else None
        decisions = DecisionLog(self.sink, [name for name, _ in instances]) if log else None
        self.now = 0.0
        self.adapter = GatewayAdapter(core, lambda: self.now, decisions)
        self.core = core
        self.slo = base_slo(p for _, p in instances)
        self.gap = gap
        self.queries = 0
        self.waiting = 0
        self.admitted: list[deque[CallId]] = [deque() for _ in instances]
        self.fresh: list[CallId] = []
        self.pending: dict[str, int] = {}
        self.trips: dict[str, int] = {}

    def decided(self, decision: Admit | Fail) -> None:
        if not isinstance(decision, Admit):
            raise RuntimeError(f"the core failed a call of the trace: {decision}")
        self.admitted[decision.instance].append(decision.call)
        self.fresh.append(decision.call)
        self.waiting -= 1

    def timed(self, event: Event) -> int:
        start = time.perf_counter_ns()
        self.adapter.send(event)
        return time.perf_counter_ns() - start

    def arrive(self, specs: tuple[CallSpec, ...], samples: dict[str, list[int]] | None) -> list[CallId]:
        """A query of one stage arrives and its calls are dispatched; returns the calls."""
        query = f"q{self.queries}"
        self.queries += 1
        self.now += self.gap * len(specs)
        calls = [(query, 0, i) for i in range(len(specs))]
        arrived = self.timed(QueryArrived(query, self.slo))
        for call in calls:
            self.adapter.on_decision(call, self.decided)
        self.waiting += len(specs)
        stage = self.timed(StageReady(query, 0, specs))
        self.pending[query] = len(specs)
        if samples is not None:
            row = ROWS[0] if len(specs) == 1 else ROWS[1]
            samples[row].append(stage // len(specs))
            if len(specs) == 1:
                self.trips[query] = arrived + stage
        self.start_fresh()
        return calls

    def start_fresh(self) -> None:
        for call in self.fresh:
            started = self.timed(CallStarted(call))
            if call[0] in self.trips:
                self.trips[call[0]] += started
        self.fresh.clear()

    def fill(self, specs: Iterator[tuple[CallSpec, ...]], waiting: int) -> None:
        while self.waiting < waiting:
            self.arrive(next(specs), None)
        short = [i for i, calls in enumerate(self.admitted) if not calls]
        if short:
            raise TooFewWaiting(f"instances {short} got no call while filling")

    def step(self, specs: tuple[CallSpec, ...], samples: dict[str, list[int]] | None) -> None:
        """One query arrives while every instance is busy; a call finishes on each instance it was sent to."""
        before = self.waiting
        calls = self.arrive(specs, samples)
        if self.waiting != before + len(specs):
            raise TooFewWaiting("a call was admitted at once: an instance has room")
        for call in calls:
            done = self.admitted[self.core._calls[call].instance].popleft()  # the instance it was dispatched to
            finished = self.timed(CallFinished(done))
            if self.waiting != before + len(specs) - 1:
                raise RuntimeError("a finished call admitted no waiting call")
            before -= 1
            query = done[0]
            self.pending[query] -= 1
            if not self.pending[query]:
                del self.pending[query]
                closed = self.timed(QueryFinished(query))
                trip = self.trips.pop(query, None)
                if samples is not None and trip is not None:
                    samples[ROWS[3]].append(trip + finished + closed)
            if samples is not None and len(specs) == 1:
                samples[ROWS[2]].append(finished)
            self.start_fresh()


def measure(args, log: bool) -> tuple[dict[str, list[int]], list[int]]:
    """Samples (ns) per row, and the collector's runs per generation from the first warm-up on."""
    singles, parallel = trace_stages()
    ones, fives = cycle(singles), cycle(parallel)
    gateway = Gateway(args.policy, args.running, args.gap, log)
    gateway.fill(ones, args.waiting)
    samples: dict[str, list[int]] = {row: [] for row in ROWS}
    collections = [s["collections"] for s in gc.get_stats()]
    for _ in range(args.warmup):
        gateway.step(next(ones), None)
    while len(samples[ROWS[3]]) < args.ops or len(samples[ROWS[0]]) < args.ops:
        gateway.step(next(ones), samples)
    for _ in range(args.warmup):
        gateway.step(next(fives), None)
    while len(samples[ROWS[1]]) < args.ops:
        gateway.step(next(fives), samples)
    collections = [s["collections"] - c for s, c in zip(gc.get_stats(), collections, strict=True)]
    if gateway.sink is not None:
        gateway.sink.close()
    return samples, collections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--policy",
        choices=list(POLICIES),
        default="hexgen",
        metavar="NAME",
        help=f"{', '.join(POLICIES)} (default hexgen)",
    )
    parser.add_argument("--ops", type=positive_int, default=20_000, help="timed operations per row (default 20,000)")
    parser.add_argument(
        "--warmup", type=positive_int, default=2_000, help="untimed queries before each part (default 2,000)"
    )
    parser.add_argument("--waiting", type=positive_int, default=1_000, help="calls waiting in the core (default 1,000)")
    parser.add_argument("--running", type=positive_int, default=4, help="max_running: calls per instance (default 4)")
    parser.add_argument(
        "--gap", type=positive_float, default=0.05, help="clock seconds per call (default 0.05: 20 calls/s)"
    )
    args = parser.parse_args()

    instances = sum(count for _, count in CLUSTER)
    table = Table(title=f"us per event: {args.policy}, {instances} instances, {args.waiting:,} calls waiting")
    for column in ("operation", "log", "ops", "p50", "p99", "p99.9", "max"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    notes = []
    for log in (False, True):
        try:
            samples, collections = measure(args, log)
        except TooFewWaiting as error:
            print(f"bench_decisions: error: --waiting {args.waiting}: {error}; raise it", file=sys.stderr)
            sys.exit(2)
        for row in ROWS:
            us = np.array(samples[row]) / 1000.0
            p50, p99, p999 = np.percentile(us, [50, 99, 99.9])
            cells = (f"{p50:,.1f}", f"{p99:,.1f}", f"{p999:,.1f}", f"{us.max():,.0f}")
            table.add_row(row, "on" if log else "off", f"{len(us):,}", *cells)
        table.add_section()
        notes.append(f"log {'on' if log else 'off'} {'/'.join(f'{n:,}' for n in collections)}")
    console = Console()
    console.print(table)
    cluster = ", ".join(f"{count} x {gpu}" for gpu, count in CLUSTER)
    console.print(f"cluster: {cluster}; {args.running} calls running per instance")
    console.print(f"garbage collector: enabled, thresholds {gc.get_threshold()}")
    console.print(f"its runs, gen 0/1/2, first warm-up to end: {'; '.join(notes)}")


if __name__ == "__main__":
    main()
