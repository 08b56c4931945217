"""The scheduler core: workflow progress, dispatch bookkeeping, baselines, and its isolation."""

import subprocess
import sys

import pytest

from hexsim.scheduler.core import Scheduler
from hexsim.scheduler.estimates import StepMeans
from hexsim.scheduler.registry import get_policy
from hexsim.workload.model import Call, Query, Stage
from tests.sim.helpers import MODEL, profile

QUERY = Query("q", (Stage((Call("a", 100, 10), Call("a", 200, 10))), Stage((Call("b", 50, 5),))))
ESTIMATES = StepMeans({"a": 20.0, "b": 4.0}, default=1.0)


def scheduler(policy: str, n: int = 3) -> Scheduler:
    return Scheduler(get_policy(policy), [(f"i{k}", profile(base=0.01 * (k + 1))) for k in range(n)], ESTIMATES, MODEL)


def test_stages_run_in_order_and_the_query_finishes_with_its_last_call():
    s = scheduler("lor")
    state, first = s.query_arrived(QUERY, slo=100.0, now=1.0)
    assert [t.call for t in first] == list(QUERY.stages[0].calls)
    assert state.deadline == 101.0
    assert s.call_finished(first[0], now=2.0) == []
    (second,) = s.call_finished(first[1], now=3.0)
    assert second.call == QUERY.stages[1].calls[0] and second.ready == 3.0
    assert state.finish is None
    assert s.call_finished(second, now=4.0) == []
    assert state.finish == 4.0


def test_estimates_use_step_means_not_true_lengths():
    s = scheduler("vllm", n=1)
    _, (task, _) = s.query_arrived(QUERY, slo=100.0, now=0.0)
    inst = s.instances[0]
    assert task.est_output == 20.0
    assert task.t_comp == pytest.approx(inst.profile.standalone_time(100, 20.0))


def test_queued_work_rises_on_dispatch_and_falls_on_completion():
    s = scheduler("vllm", n=1)
    _, tasks = s.query_arrived(QUERY, slo=100.0, now=0.0)
    inst = s.instances[0]
    assert inst.outstanding == 2
    assert inst.queued_work == pytest.approx(tasks[0].t_comp + tasks[1].t_comp)
    s.call_finished(tasks[0], now=1.0)
    assert inst.outstanding == 1
    assert inst.queued_work == pytest.approx(tasks[1].t_comp)
    (last,) = s.call_finished(tasks[1], now=2.0)
    s.call_finished(last, now=3.0)
    assert (inst.outstanding, inst.queued_work) == (0, 0.0)


def test_round_robin_cycles_whatever_the_load():
    s = scheduler("vllm")
    chosen = []
    for i in range(3):
        _, tasks = s.query_arrived(Query(f"q{i}", QUERY.stages), slo=100.0, now=0.0)
        chosen += [t.instance for t in tasks]
    assert chosen == [0, 1, 2, 0, 1, 2]


def test_least_outstanding_picks_the_emptiest_lowest_index_on_ties():
    s = scheduler("lor")
    _, tasks = s.query_arrived(QUERY, slo=100.0, now=0.0)
    assert [t.instance for t in tasks] == [0, 1]
    _, more = s.query_arrived(Query("r", QUERY.stages), slo=100.0, now=0.0)
    assert [t.instance for t in more] == [2, 0]
    s.call_finished(tasks[1], now=1.0)
    _, again = s.query_arrived(Query("s", (Stage((Call("a", 1, 1),)),)), slo=100.0, now=1.0)
    assert again[0].instance == 1


def test_fcfs_queue_admits_in_arrival_order_and_preempted_calls_first():
    s = scheduler("vllm", n=1)
    _, tasks = s.query_arrived(QUERY, slo=100.0, now=0.0)
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
