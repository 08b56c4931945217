"""The scheduler core through its seam: events in, decisions out, and its isolation from runtimes."""

import io
import json
import subprocess
import sys

import pytest

from hexsim.errors import ParameterError
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.core import PRIORITY_PER_SECOND, SchedulerCore
from hexsim.scheduler.events import (
    Admit,
    CallFinished,
    CallSpec,
    CallStarted,
    Dispatch,
    Fail,
    InstanceLoad,
    InstanceRoom,
    QueryArrived,
    QueryFinished,
    StageReady,
)
from hexsim.scheduler.log import DecisionLog
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.seam import Seam
from hexsim.scheduler.template import StepShape, WorkflowTemplate
from tests.sim.helpers import MODEL, profile

TEMPLATE = WorkflowTemplate({"a": StepShape(20.0, 200.0), "b": StepShape(4.0, 50.0)}, {}, default_output=1.0)
STAGE_A = (CallSpec("a", 100, 10), CallSpec("a", 200, 10))
STAGE_B = (CallSpec("b", 50, 5),)


def core(policy: str, n: int = 3, **config) -> SchedulerCore:
    instances = [(f"i{k}", profile(base=0.01 * (k + 1))) for k in range(n)]
    return SchedulerCore(get_policy(policy), instances, TEMPLATE, MODEL, SchedulerConfig(policy=policy, **config))


def start(c: SchedulerCore, query: str = "q", now: float = 0.0, calls=STAGE_A, slo: float = 100.0) -> list:
    c.handle(QueryArrived(query, slo), now)
    return c.handle(StageReady(query, 0, calls), now)


def kinds(decisions) -> list[tuple]:
    return [(type(d).__name__, d.call, d.instance) if not isinstance(d, Fail) else ("Fail", d.call) for d in decisions]


def test_a_stage_is_dispatched_then_admitted_and_the_next_follows_its_last_call():
    c = core("lor")
    decisions = start(c, now=1.0)
    assert kinds(decisions) == [
        ("Dispatch", ("q", 0, 0), 0),
        ("Dispatch", ("q", 0, 1), 1),
        ("Admit", ("q", 0, 0), 0),
        ("Admit", ("q", 0, 1), 1),
    ]
    assert decisions[0].deadline == 101.0  # lor: the query's own deadline
    for call in (("q", 0, 0), ("q", 0, 1)):
        assert not c.handle(CallStarted(call), 1.5)
        assert not c.handle(CallFinished(call), 2.0)
    assert kinds(c.handle(StageReady("q", 1, STAGE_B), 3.0)) == [
        ("Dispatch", ("q", 1, 0), 0),
        ("Admit", ("q", 1, 0), 0),
    ]


def test_estimates_use_the_template_not_the_calls_output_limit():
    c = core("vllm", n=1)
    start(c)
    call = c._calls["q", 0, 0]
    assert call.est_output == 20.0 and call.spec.max_tokens == 10
    assert call.t_comp == pytest.approx(c.instances[0].profile.standalone_time(100, 20.0))


def test_queued_work_rises_on_dispatch_and_falls_on_completion():
    c = core("vllm", n=1)
    start(c)
    first, second = c._calls["q", 0, 0], c._calls["q", 0, 1]
    inst = c.instances[0]
    assert (inst.outstanding, inst.in_flight) == (2, 2)
    assert inst.queued_work == pytest.approx(first.t_comp + second.t_comp)
    c.handle(CallFinished(first.id), 1.0)
    assert inst.outstanding == 1 and inst.queued_work == pytest.approx(second.t_comp)
    c.handle(CallFinished(second.id), 2.0)
    assert (inst.outstanding, inst.in_flight, inst.queued_work) == (0, 0, 0.0)


def test_round_robin_cycles_whatever_the_load():
    c = core("vllm")
    chosen = [d.instance for i in range(3) for d in start(c, f"q{i}") if isinstance(d, Dispatch)]
    assert chosen == [0, 1, 2, 0, 1, 2]


def test_least_outstanding_picks_the_emptiest_lowest_index_on_ties():
    c = core("lor")
    assert [d.instance for d in start(c, "q") if isinstance(d, Dispatch)] == [0, 1]
    assert [d.instance for d in start(c, "r") if isinstance(d, Dispatch)] == [2, 0]
    c.handle(CallFinished(("q", 0, 1)), 1.0)
    again = start(c, "s", now=1.0, calls=(CallSpec("a", 1, 1),))
    assert again[0].instance == 1


def test_the_cap_holds_calls_and_admits_the_most_urgent_when_one_finishes():
    # One instance, at most one call in flight, urgency order: latest start = deadline - t_comp.
    c = core("rr-pq", n=1, max_running=1)
    start(c, "late", slo=500.0, calls=(CallSpec("a", 100, 10),))
    assert kinds(start(c, "relaxed", slo=900.0, calls=(CallSpec("a", 100, 10),))) == [
        ("Dispatch", ("relaxed", 0, 0), 0)
    ]
    assert kinds(start(c, "urgent", slo=200.0, calls=(CallSpec("a", 100, 10),))) == [("Dispatch", ("urgent", 0, 0), 0)]
    admitted = c.handle(CallFinished(("late", 0, 0)), 1.0)
    assert kinds(admitted) == [("Admit", ("urgent", 0, 0), 0)]
    assert kinds(c.handle(CallFinished(("urgent", 0, 0)), 2.0)) == [("Admit", ("relaxed", 0, 0), 0)]


def test_an_instance_without_room_holds_its_calls_until_it_has_room_again():
    c = core("vllm", n=1)
    assert not c.handle(InstanceRoom(0, False), 0.0)
    assert [type(d) for d in start(c)] == [Dispatch, Dispatch]
    assert kinds(c.handle(InstanceRoom(0, True), 5.0)) == [("Admit", ("q", 0, 0), 0), ("Admit", ("q", 0, 1), 0)]


def test_calls_go_only_to_instances_with_room_while_some_have_it():
    c = core("vllm", n=3)
    c.handle(InstanceRoom(1, False), 0.0)
    chosen = [d.instance for i in range(2) for d in start(c, f"q{i}") if isinstance(d, Dispatch)]
    assert chosen == [0, 2, 0, 2]
    for k in (0, 2):
        c.handle(InstanceRoom(k, False), 1.0)
    held = start(c, "all-full", now=1.0)
    assert [type(d) for d in held] == [Dispatch, Dispatch]  # nowhere has room: dispatched anyway, held
    for k in range(3):
        admitted = [d.call for d in c.handle(InstanceRoom(k, True), 2.0)]
        assert admitted == [d.call for d in held if d.instance == k]


def test_requests_from_elsewhere_count_as_load_of_a_typical_call_each():
    c = core("lor", n=2)
    start(c, "mine", calls=(CallSpec("a", 100, 10),))  # on instance 0
    inst, other = c.instances
    assert other.foreign_call == pytest.approx(
        other.profile.standalone_time(125.0, 1.0)
    )  # mean stage input, default output
    c.handle(InstanceLoad(1, foreign=3), 0.5)
    assert (other.outstanding, other.foreign) == (3, 3)
    assert other.queued_work == pytest.approx(3 * other.foreign_call)
    assert [d.instance for d in start(c, "next", now=1.0) if isinstance(d, Dispatch)] == [0, 0]
    c.handle(InstanceLoad(1, foreign=1), 2.0)
    assert (other.outstanding, other.queued_work) == (1, pytest.approx(other.foreign_call))
    c.handle(InstanceLoad(1, foreign=0), 3.0)
    assert (other.outstanding, other.foreign, other.queued_work) == (0, 0, 0.0)
    assert inst.outstanding == 3


def test_urgency_sends_the_latest_start_as_vllm_priority_and_fcfs_sends_zero():
    urgent = core("rr-pq", n=1)
    dispatch, admit = start(urgent, calls=(CallSpec("a", 100, 10),))
    assert dispatch.key == pytest.approx(dispatch.deadline - urgent.instances[0].est_compute(urgent._calls[admit.call]))
    assert admit.priority == round(dispatch.key * PRIORITY_PER_SECOND) and admit.priority > 0
    fcfs = core("vllm", n=1)
    assert start(fcfs)[-1].priority == 0


def test_a_call_no_instance_can_hold_fails_and_a_call_only_some_can_hold_goes_there():
    small, large = profile(kv_capacity_tokens=4096), profile(kv_capacity_tokens=65536)
    c = SchedulerCore(get_policy("vllm"), [("small", small), ("large", large)], TEMPLATE, MODEL)
    c.handle(QueryArrived("q", 10.0), 0.0)
    decisions = c.handle(StageReady("q", 0, (CallSpec("a", 70000, 10), CallSpec("a", 4000, 200))), 0.0)
    assert kinds(decisions) == [("Fail", ("q", 0, 0)), ("Dispatch", ("q", 0, 1), 1), ("Admit", ("q", 0, 1), 1)]
    assert "70000 prompt + 10 output tokens exceed the KV cache of every instance" in decisions[0].reason
    assert "at most 65536 tokens" in decisions[0].reason


def test_more_calls_of_the_current_stage_join_it_with_its_deadline():
    c = core("hexgen")
    first = start(c, calls=STAGE_A[:1])
    more = c.handle(StageReady("q", 0, STAGE_A[1:], first=1), 4.0)
    assert more[0].call == ("q", 0, 1) and more[0].deadline == first[0].deadline


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (CallFinished(("q", 0, 5)), "call ('q', 0, 5) is not admitted"),
        (StageReady("q", 3, STAGE_B), "query 'q' is at stage 0, got stage 3"),
        (StageReady("q", 0, STAGE_B), "query 'q' stage 0 has 2 calls, got calls from index 0"),
        (StageReady("q", 1, STAGE_B, first=1), "query 'q' stage 1 has 0 calls, got calls from index 1"),
        (StageReady("nobody", 0, STAGE_B), "unknown query 'nobody'"),
        (QueryArrived("q", 10.0), "query 'q' arrived twice"),
        (QueryArrived("r", 0.0), "slo: must be a positive number of seconds, got 0.0"),
    ],
)
def test_events_that_break_the_protocol_are_refused_by_name(event, message):
    c = core("lor")
    start(c)
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        c.handle(event, 1.0)


def test_a_finished_query_is_forgotten():
    c = core("lor")
    start(c)
    c.handle(QueryFinished("q"), 1.0)
    with pytest.raises(ParameterError, match="unknown query 'q'"):
        c.handle(StageReady("q", 1, STAGE_B), 1.0)


def test_the_decision_log_has_one_flat_record_per_call_event_and_decision():
    c = core("lor", n=2)
    sink = io.StringIO()
    seam = Seam(c, lambda: 1.25, {Dispatch: print, Admit: print}, DecisionLog(sink, ["i0", "i1"]))
    seam.send(QueryArrived("q", 100.0))
    seam.send(StageReady("q", 0, STAGE_A))
    records = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert records[0] == {"t": 1.25, "event": "query_arrived", "query": "q", "slo": 100.0}
    assert records[1] == {
        "t": 1.25,
        "event": "stage_ready",
        "query": "q",
        "stage": 0,
        "index": 0,
        "step": "a",
        "input_tokens": 100,
        "max_tokens": 10,
    }
    assert [r.get("decision") for r in records[3:]] == ["dispatch", "dispatch", "admit", "admit"]
    assert records[4]["instance"] == "i1" and records[4]["index"] == 1
    assert all(not isinstance(v, dict | list) for r in records for v in r.values())


def test_scheduler_core_imports_no_runtime_library():
    forbidden = ["simpy", "asyncio", "http", "httpx", "aiohttp", "requests", "urllib3", "uvicorn", "starlette"]
    code = (
        "import sys, pkgutil, importlib, hexsim.scheduler as s\n"
        "for m in pkgutil.iter_modules(s.__path__): importlib.import_module('hexsim.scheduler.' + m.name)\n"
        f"print(sorted(m for m in {forbidden!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
