"""The scheduler core: workflow progress, dispatch bookkeeping, baselines, and its isolation."""

import subprocess
import sys

import pytest

from hexsim.scheduler.core import Scheduler
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.template import StepShape, WorkflowTemplate
from hexsim.workload.model import Call, Query, Stage
from tests.sim.helpers import MODEL, profile

QUERY = Query("q", (Stage((Call("a", 100, 10), Call("a", 200, 10))), Stage((Call("b", 50, 5),))))
TEMPLATE = WorkflowTemplate({"a": StepShape(20.0, 200.0), "b": StepShape(4.0, 50.0)}, {}, default_output=1.0)


def scheduler(policy: str, n: int = 3) -> Scheduler:
    return Scheduler(get_policy(policy), [(f"i{k}", profile(base=0.01 * (k + 1))) for k in range(n)], TEMPLATE, MODEL)


def start(s: Scheduler, query: Query = QUERY, now: float = 0.0):
    state = s.query_arrived(query.id, slo=100.0, now=now)
    return state, s.stage_ready(state, query.stages[0].calls, now)


def test_a_stage_completes_with_its_last_call():
    s = scheduler("lor")
    state, first = start(s, now=1.0)
    assert [t.call for t in first] == list(QUERY.stages[0].calls)
    assert state.deadline == 101.0 and state.positions == [("a", 1)]
    assert s.call_finished(first[0], now=2.0) is False
    assert s.call_finished(first[1], now=3.0) is True
    (second,) = s.stage_ready(state, QUERY.stages[1].calls, now=3.0)
    assert second.stage == 1 and second.ready == 3.0 and state.positions == [("a", 1), ("b", 1)]
    assert s.call_finished(second, now=4.0) is True


def test_estimates_use_the_template_not_true_lengths():
    s = scheduler("vllm", n=1)
    _, (task, _) = start(s)
    assert task.est_output == 20.0
    assert task.t_comp == pytest.approx(s.instances[0].profile.standalone_time(100, 20.0))


def test_queued_work_rises_on_dispatch_and_falls_on_completion():
    s = scheduler("vllm", n=1)
    state, tasks = start(s)
    inst = s.instances[0]
    assert inst.outstanding == 2
    assert inst.queued_work == pytest.approx(tasks[0].t_comp + tasks[1].t_comp)
    s.call_finished(tasks[0], now=1.0)
    assert inst.outstanding == 1
    assert inst.queued_work == pytest.approx(tasks[1].t_comp)
    s.call_finished(tasks[1], now=2.0)
    (last,) = s.stage_ready(state, QUERY.stages[1].calls, now=2.0)
    s.call_finished(last, now=3.0)
    assert (inst.outstanding, inst.queued_work) == (0, 0.0)


def test_round_robin_cycles_whatever_the_load():
    s = scheduler("vllm")
    chosen = []
    for i in range(3):
        _, tasks = start(s, Query(f"q{i}", QUERY.stages))
        chosen += [t.instance for t in tasks]
    assert chosen == [0, 1, 2, 0, 1, 2]


def test_least_outstanding_picks_the_emptiest_lowest_index_on_ties():
    s = scheduler("lor")
    _, tasks = start(s)
    assert [t.instance for t in tasks] == [0, 1]
    _, more = start(s, Query("r", QUERY.stages))
    assert [t.instance for t in more] == [2, 0]
    s.call_finished(tasks[1], now=1.0)
    _, again = start(s, Query("s", (Stage((Call("a", 1, 1),)),)), now=1.0)
    assert again[0].instance == 1


def test_fcfs_queue_admits_in_arrival_order_and_preempted_calls_first():
    s = scheduler("vllm", n=1)
    _, tasks = start(s)
    assert s.pop(0) is tasks[0]
    s.requeue(tasks[0])
    assert s.peek(0) is tasks[0] and tasks[0].preemptions == 1
    assert [s.pop(0), s.pop(0)] == tasks and s.peek(0) is None


def test_scheduler_core_imports_no_runtime_library():
    forbidden = ["simpy", "asyncio", "http", "httpx", "aiohttp", "requests", "urllib3", "uvicorn", "starlette"]
    code = (
        "import sys, pkgutil, importlib, hexsim.scheduler as s\n"
        "for m in pkgutil.iter_modules(s.__path__): importlib.import_module('hexsim.scheduler.' + m.name)\n"
        f"print(sorted(m for m in {forbidden!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
