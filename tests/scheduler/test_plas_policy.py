"""Autellix's PLAS against hand-computed numbers: attained service, the queue order and engine
priority it gives, and the load balancer's least-used and program-locality choices."""

import gc

import pytest

from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.estimates import Estimates
from hexsim.scheduler.events import (
    Admit,
    CallFinished,
    CallSpec,
    CallStarted,
    Dispatch,
    InstanceRoom,
    QueryArrived,
    StageReady,
)
from hexsim.scheduler.plas import ProgramLocality
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.state import InstanceState, QueryState, ScheduledCall
from hexsim.scheduler.template import StepShape, WorkflowTemplate
from tests.sim.helpers import MODEL, profile

# Standalone time: 0.01 s per iteration + 0.001 s per prompt token, the prompt in one iteration,
# then (output - 1) decode iterations. Step "a" is estimated at 20 output tokens:
#   t_comp(100 tokens)  = 0.01 + 0.1 + 19 * 0.01 = 0.30 s
#   t_comp(1000 tokens) = 0.01 + 1.0 + 19 * 0.01 = 1.20 s
P = profile(base=0.01, prefill_token=0.001)
TEMPLATE = WorkflowTemplate({"a": StepShape(20.0, 200.0)}, {}, default_output=1.0)


def core() -> SchedulerCore:
    return SchedulerCore(get_policy("plas"), [("i0", P)], TEMPLATE, MODEL, SchedulerConfig("plas"))


def run_call(c: SchedulerCore, query: str, stage: int, tokens: int, now: float) -> None:
    c.handle(StageReady(query, stage, (CallSpec("a", tokens, 30),)), now)
    c.handle(CallStarted((query, stage, 0)), now + 0.5)
    c.handle(CallFinished((query, stage, 0)), now + 1.0)


def test_attained_service_is_the_estimated_compute_of_the_finished_calls():
    c = core()
    c.handle(QueryArrived("q", 100.0), 0.0)
    run_call(c, "q", 0, 100, 0.0)
    assert c._queries["q"].attained == pytest.approx(0.30)
    run_call(c, "q", 1, 1000, 2.0)
    assert c._queries["q"].attained == pytest.approx(0.30 + 1.20)


def test_calls_wait_in_order_of_their_querys_attained_service_and_reach_the_engine_so():
    c = core()
    for query in ("long", "short", "new"):
        c.handle(QueryArrived(query, 100.0), 0.0)
    run_call(c, "long", 0, 1000, 0.0)  # attained 1.20 s
    run_call(c, "short", 0, 100, 0.0)  # attained 0.30 s
    c.handle(InstanceRoom(0, False), 2.0)  # the engine is full: calls wait at the core
    held = []
    for query, stage in (("long", 1), ("short", 1), ("new", 0)):  # dispatched in this order
        held += c.handle(StageReady(query, stage, (CallSpec("a", 100, 30),)), 3.0)
    assert [d.call[0] for d in held] == ["long", "short", "new"]
    assert [d.key for d in held] == pytest.approx([1.20, 0.30, 0.0])  # their queries' attained service
    assert not any(isinstance(d, Admit) for d in held)
    admitted = c.handle(InstanceRoom(0, True), 4.0)
    # Least attained service first; the key reaches vLLM as its priority, in milliseconds.
    assert [(d.call[0], d.priority) for d in admitted] == [("new", 0), ("short", 300), ("long", 1200)]
    # Calls of one stage share their query's attained service: first come, first served among them.
    c.handle(QueryArrived("pair", 100.0), 5.0)
    c.handle(InstanceRoom(0, False), 5.0)
    c.handle(StageReady("pair", 0, (CallSpec("a", 500, 30), CallSpec("a", 100, 30))), 5.0)
    admitted = c.handle(InstanceRoom(0, True), 6.0)
    assert [d.call for d in admitted] == [("pair", 0, 0), ("pair", 0, 1)]


def query_call(query: QueryState, tokens: int) -> ScheduledCall:
    return ScheduledCall((query.id, 0, 0), query, CallSpec("a", tokens, 30), 20.0)


def instances(*outstanding: int) -> list[InstanceState]:
    return [InstanceState(i, f"i{i}", P, Estimates(), outstanding=n) for i, n in enumerate(outstanding)]


def test_short_calls_go_to_the_least_used_instance_and_long_ones_stay_with_their_program():
    lb, q, r = ProgramLocality(), QueryState("q", 0.0, 100.0), QueryState("r", 0.0, 100.0)
    # 2048 prompt tokens is short: the fewest outstanding calls, the first of equals (i1 of 3 1 1).
    assert lb.choose(query_call(q, 2048), instances(3, 1, 1)).index == 1
    # 2049 is long: q has no instance yet, so the least used (i2 of 3 2 1), which q keeps.
    assert lb.choose(query_call(q, 2049), instances(3, 2, 1)).index == 2
    # q's long calls go back to i2 however busy it is; its short calls and r's first long call do not.
    busy = instances(0, 4, 9)
    assert lb.choose(query_call(q, 12000), busy).index == 2
    assert lb.choose(query_call(q, 300), busy).index == 0
    assert lb.choose(query_call(r, 6000), busy).index == 0
    # If q's instance cannot take the call (not a candidate: down, full, or avoided on a retry),
    # the least used of the others takes it and becomes q's.
    assert lb.choose(query_call(q, 12000), busy[:2]).index == 0
    assert lb.choose(query_call(q, 12000), busy).index == 0


def test_a_finished_query_is_forgotten():
    lb = ProgramLocality()
    q = QueryState("q", 0.0, 100.0)
    lb.choose(query_call(q, 5000), instances(0, 0))
    assert len(lb._home) == 1
    del q
    gc.collect()
    assert len(lb._home) == 0


def test_dispatch_through_the_core_keeps_a_querys_long_calls_on_one_instance():
    c = SchedulerCore(get_policy("plas"), [("i0", P), ("i1", P)], TEMPLATE, MODEL, SchedulerConfig("plas"))
    c.handle(QueryArrived("q", 100.0), 0.0)
    # Three long calls of one stage: the first goes to the least used (i0, of 0 0), the others follow it
    # although i1 is idle; a short call of the same stage goes to the least used, i1.
    specs = (CallSpec("a", 5000, 30), CallSpec("a", 5000, 30), CallSpec("a", 300, 30), CallSpec("a", 5000, 30))
    where = [d.instance for d in c.handle(StageReady("q", 0, specs), 0.0) if isinstance(d, Dispatch)]
    assert where == [0, 0, 1, 0]
