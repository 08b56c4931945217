"""HexGen's parts against hand-computed numbers: dispatch scores, stage deadlines, queue order."""

import pytest

from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.estimates import Estimates
from hexsim.scheduler.events import CallSpec, QueryArrived, StageReady
from hexsim.scheduler.fcfs import Fcfs
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.state import InstanceState, QueryState, ScheduledCall
from hexsim.scheduler.template import StepShape, WorkflowTemplate
from hexsim.scheduler.urgency import Urgency
from hexsim.scheduler.workload_balance import WorkloadBalanced
from tests.sim.helpers import MODEL, profile

# Standalone time with these profiles: base per iteration + prefill_token per prompt token,
# (output - 1) decode iterations; prompts under 8192 tokens take one iteration.
FAST = profile(base=0.01, prefill_token=0.001)
SLOW = profile(base=0.02, prefill_token=0.002)


def task(input_tokens=1000, est_output=51.0, deadline=float("inf"), t_comp=0.0) -> ScheduledCall:
    state = QueryState("q", 0.0, 100.0)
    spec = CallSpec("s", input_tokens, 7)
    return ScheduledCall(("q", 0, 0), state, spec, est_output, deadline=deadline, t_comp=t_comp)


def instances(*specs):
    estimates = Estimates()
    return [
        InstanceState(i, f"i{i}", p, estimates, outstanding=int(q > 0), queued_work=q) for i, (p, q) in enumerate(specs)
    ]


def test_scores_and_choice_by_hand():
    # t_comp(FAST) = 0.01 + 1000 * 0.001 + 50 * 0.01 = 1.51 s; t_comp(SLOW) = 0.02 + 2.0 + 1.0 = 3.02 s.
    # alpha 0.5, beta 10: score = 5 / max(t_queue, 1) - 0.5 * t_comp.
    wb = WorkloadBalanced(SchedulerConfig(alpha=0.5, beta=10.0, eps=1.0))
    cands = instances((FAST, 20.0), (SLOW, 5.0), (FAST, 0.0))
    scores = wb.scores(task(), cands)
    assert [s for s, _ in scores] == pytest.approx([5 / 20 - 0.755, 5 / 5 - 1.51, 5 / 1 - 0.755])
    assert [t for _, t in scores] == pytest.approx([1.51, 3.02, 1.51])
    assert wb.choose(task(), cands).index == 2  # the idle instance: t_queue floored at eps
    busy = instances((FAST, 20.0), (SLOW, 5.0), (FAST, 20.0))
    assert wb.choose(task(), busy).index == 0  # -0.505 beats -0.51; the tie 0 vs 2 goes to 0


def test_ties_go_to_the_faster_then_the_earlier_instance():
    wb = WorkloadBalanced(SchedulerConfig(alpha=0.0, beta=10.0, eps=1.0))  # queue balance only
    assert wb.choose(task(), instances((SLOW, 4.0), (FAST, 4.0), (FAST, 4.0))).index == 1
    speed_only = WorkloadBalanced(SchedulerConfig(alpha=1.0, beta=10.0, eps=1.0))
    assert speed_only.choose(task(), instances((SLOW, 0.0), (FAST, 50.0))).index == 1


TEMPLATE = WorkflowTemplate(
    steps={"x": StepShape(11.0, 500.0), "y": StepShape(21.0, 1000.0)},
    remaining={("x", 1): {"y": 2.0}, ("y", 1): {"y": 1.0}, ("y", 2): {}},
    default_output=1.0,
)
A = profile(base=0.01, prefill_token=0.001)
B = profile(base=0.03, prefill_token=0.002)


def deadlines(core: SchedulerCore, calls, now: float) -> list[float]:
    stage = core._queries["q"].stage + 1
    return [d.deadline for d in core.handle(StageReady("q", stage, tuple(calls)), now) if hasattr(d, "deadline")]


def test_stage_deadlines_split_the_remaining_budget_by_expected_work():
    c = SchedulerCore(get_policy("hexgen"), [("a", A), ("b", B), ("a2", A)], TEMPLATE, MODEL)
    c.handle(QueryArrived("q", 100.0), 0.0)
    first = deadlines(c, [CallSpec("x", 200), CallSpec("x", 400)], now=10.0)
    # E(k): the 400-token call, 0.51 s on A and 1.13 s on B, averaged over the two types: 0.82 s.
    # After x#1 the template expects two y stages of 1.21 s (A) and 2.63 s (B): 1.92 s each.
    e_k, w = 0.82, 0.82 + 2 * 1.92
    assert first == pytest.approx([10 + 90 * e_k / w] * 2)
    assert deadlines(c, [CallSpec("y", 1000)], now=20.0) == pytest.approx([20 + 80 * 1.92 / (1.92 + 1.92)])  # = 60
    assert deadlines(c, [CallSpec("y", 1000)], now=70.0) == pytest.approx([100.0])  # nothing after y#2: the rest
    assert deadlines(c, [CallSpec("y", 1000)], now=120.0) == pytest.approx([100.0])  # y#4 unseen: as y#2; late


def test_urgency_keys_calls_by_latest_start():
    order = Urgency()
    calls = [
        task(deadline=100, t_comp=10),
        task(deadline=50, t_comp=5),
        task(deadline=60, t_comp=20),
        task(deadline=45, t_comp=0),
    ]
    assert [order.key(t) for t in calls] == [90, 45, 40, 45]
    assert order.engine_priority and not Fcfs().engine_priority and Fcfs().key(calls[0]) == 0.0
