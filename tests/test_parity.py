"""One scheduler, two runtimes: the simulator's adapter and the gateway's make the same decisions.

A scripted client and engines (`hexsim.testing.scripted`: arrivals, calls starting and
finishing, an instance losing and regaining room, a call that fits nowhere) drive the scheduler
core through the simulator's SimPy adapter and through the SimPy-free gateway adapter; the
decision logs must be the same bytes, for every policy. A whole simulation's events, replayed
through the gateway adapter, must give its log back too.
"""

import io
import json

import numpy as np
import pytest

from hexsim.cluster import load_cluster
from hexsim.live.adapter import GatewayAdapter
from hexsim.resources import default_cluster, default_trace
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.events import CallFinished, CallSpec, CallStarted, QueryArrived, QueryFinished, StageReady
from hexsim.scheduler.log import DecisionLog
from hexsim.scheduler.registry import POLICIES, get_policy
from hexsim.scheduler.template import default_template
from hexsim.sim.simulate import simulate
from hexsim.testing.scripted import QUERIES, through_gateway, through_simulator
from hexsim.workload.arrivals import with_arrivals
from hexsim.workload.traces import load_trace

CLUSTER = load_cluster(default_cluster())
NAMES = [inst.name for inst in CLUSTER.instances]
SLO = 114.0


def core(policy: str, max_running: int) -> SchedulerCore:
    config = SchedulerConfig(policy=policy, max_running=max_running)
    instances = [(i.name, i.profile) for i in CLUSTER.instances]
    return SchedulerCore(get_policy(policy), instances, default_template(), CLUSTER.model, config)


@pytest.mark.parametrize("max_running", [0, 2])
@pytest.mark.parametrize("policy", list(POLICIES))
def test_scripted_events_give_the_same_decision_log_in_both_adapters(policy, max_running):
    sim = through_simulator(core(policy, max_running), CLUSTER)
    live = through_gateway(core(policy, max_running), CLUSTER)
    records = [json.loads(line) for line in sim.splitlines()]
    assert {"dispatch", "admit", "fail"} <= {r.get("decision") for r in records}
    assert {(r["event"], r["room"]) for r in records if r.get("event") == "instance_room"} == {
        ("instance_room", False),
        ("instance_room", True),
    }
    assert sum(r.get("event") == "query_finished" for r in records) == len(QUERIES), "every query ran to its end"
    assert sim == live


@pytest.mark.parametrize("policy", list(POLICIES))
def test_a_simulations_events_replayed_through_the_gateway_adapter_give_its_log(policy):
    queries = with_arrivals(load_trace(default_trace())[:40], "poisson", 0.05, np.random.default_rng(1))
    sink = io.StringIO()
    simulate(CLUSTER, queries, get_policy(policy), SLO, log=DecisionLog(sink, NAMES))
    recorded = sink.getvalue()
    now = [0.0]
    replay = io.StringIO()
    adapter = GatewayAdapter(core(policy, 0), lambda: now[0], DecisionLog(replay, NAMES))
    # The log keeps a prefix's length only; policies that read the prefix cache need its segments,
    # and the simulator took them from the queries.
    prefixes = {
        (q.id, s, i): call.prefix
        for q in queries
        for s, stage in enumerate(q.stages)
        for i, call in enumerate(stage.calls)
    }
    for event_time, event in events_of(recorded, prefixes):
        now[0] = event_time
        adapter.send(event)
    assert replay.getvalue() == recorded


def events_of(log: str, prefixes: dict) -> list:
    """The events of a decision log, a stage's per-call records joined back into one StageReady,
    each call with its prefix segments from `prefixes` (the log keeps only their length)."""
    events: list = []
    for line in log.splitlines():
        r = json.loads(line)
        kind = r.get("event")
        call = (r.get("query"), r.get("stage"), r.get("index"))
        if kind == "query_arrived":
            events.append((r["t"], QueryArrived(r["query"], r["slo"])))
        elif kind == "stage_ready":
            spec = CallSpec(r["step"], r["input_tokens"], r["max_tokens"], prefixes[call])
            last = events[-1][1] if events else None
            if r["index"] > 0 and isinstance(last, StageReady) and last.query == r["query"]:
                events[-1] = (r["t"], StageReady(last.query, last.stage, (*last.calls, spec)))
            else:
                events.append((r["t"], StageReady(r["query"], r["stage"], (spec,))))
        elif kind == "call_started":
            events.append((r["t"], CallStarted(call)))
        elif kind == "call_finished":
            events.append((r["t"], CallFinished(call)))
        elif kind == "query_finished":
            events.append((r["t"], QueryFinished(r["query"])))
    return events
