"""The core when engines fail: a call placed again after a failure, instances taken out and
back, and calls given up while still held."""

from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.events import (
    CallFailed,
    CallFinished,
    CallRetry,
    CallSpec,
    InstanceRoom,
    InstanceUp,
    QueryArrived,
    StageReady,
)
from hexsim.scheduler.registry import get_policy
from tests.scheduler.test_core import TEMPLATE, kinds
from tests.sim.helpers import MODEL, profile


def core(policy: str = "lor", n: int = 3, **config) -> SchedulerCore:
    instances = [(f"i{k}", profile(base=0.01 * (k + 1))) for k in range(n)]
    return SchedulerCore(get_policy(policy), instances, TEMPLATE, MODEL, SchedulerConfig(policy=policy, **config))


def stage(c: SchedulerCore, query: str, calls: int, now: float = 0.0) -> list:
    c.handle(QueryArrived(query, 100.0), now)
    return c.handle(StageReady(query, 0, tuple(CallSpec("a", 100, 10) for _ in range(calls))), now)


def test_a_retried_call_is_placed_again_on_another_instance_and_admitted_there():
    c = core("lor", n=2)
    stage(c, "q", 1)  # lor: i0 (ties go to the first)
    decisions = c.handle(CallRetry(("q", 0, 0), "engine i0 did not answer"), 1.0)
    assert kinds(decisions) == [("Dispatch", ("q", 0, 0), 1), ("Admit", ("q", 0, 0), 1)]
    assert decisions[0].deadline == 100.0  # the stage's deadline stands
    assert [(i.outstanding, i.in_flight) for i in c.instances] == [(0, 0), (1, 1)]
    c.handle(CallFinished(("q", 0, 0)), 2.0)
    assert [(i.outstanding, i.in_flight) for i in c.instances] == [(0, 0), (0, 0)]


def test_a_retry_with_one_instance_goes_back_to_it():
    c = core("lor", n=1)
    stage(c, "q", 1)
    assert kinds(c.handle(CallRetry(("q", 0, 0), "broken"), 1.0)) == [
        ("Dispatch", ("q", 0, 0), 0),
        ("Admit", ("q", 0, 0), 0),
    ]


def test_a_down_instance_gets_no_calls_and_its_held_calls_move_to_the_others():
    c = core("lor", n=3, max_running=1)
    stage(c, "q", 6)  # lor, one running each: i0 i1 i2 admitted, i0 i1 i2 held
    assert [len(i.held) for i in c.instances] == [1, 1, 1]
    decisions = c.handle(InstanceUp(1, False), 1.0)
    # i1's held call (q,0,4) goes to the least loaded instance that is up: i0 and i2 have two
    # outstanding each, the tie goes to i0; i0 is at its cap, so it stays held there.
    assert kinds(decisions) == [("Dispatch", ("q", 0, 4), 0)]
    assert [len(i.held) for i in c.instances] == [2, 0, 1]
    c.handle(QueryArrived("r", 100.0), 1.0)
    later = c.handle(StageReady("r", 0, (CallSpec("a", 100, 10),)), 1.0)
    assert kinds(later)[0][2] != 1  # i1 holds one running call, the least, but it is down
    assert kinds(c.handle(InstanceUp(1, True), 2.0)) == []  # back: nothing stranded to move
    c.handle(QueryArrived("s", 100.0), 2.0)
    assert kinds(c.handle(StageReady("s", 0, (CallSpec("a", 100, 10),)), 2.0))[0][2] == 1


def test_with_every_instance_down_calls_wait_and_go_to_the_first_that_comes_back():
    c = core("lor", n=2)
    c.handle(InstanceUp(0, False), 0.0)
    c.handle(InstanceUp(1, False), 0.0)
    for k in (0, 1):
        c.handle(InstanceRoom(k, False), 0.0)  # a down engine's metrics are stale too
    assert kinds(stage(c, "q", 2)) == [("Dispatch", ("q", 0, 0), 0), ("Dispatch", ("q", 0, 1), 1)]
    assert kinds(c.handle(InstanceRoom(1, True), 1.0)) == [("Admit", ("q", 0, 1), 1)]
    decisions = c.handle(InstanceUp(1, True), 1.0)
    assert kinds(decisions) == [("Dispatch", ("q", 0, 0), 1), ("Admit", ("q", 0, 0), 1)]  # from down i0
    assert [len(i.held) for i in c.instances] == [0, 0]


def test_a_held_call_that_fails_is_withdrawn_and_never_admitted():
    c = core("lor", n=1, max_running=1)
    stage(c, "q", 2)  # (q,0,0) admitted, (q,0,1) held
    assert c.handle(CallFailed(("q", 0, 1), "the client went away"), 1.0) == ()
    assert (c.instances[0].outstanding, c.instances[0].in_flight) == (1, 1)
    assert kinds(c.handle(CallFinished(("q", 0, 0)), 2.0)) == []  # nothing left to admit
    assert (c.instances[0].outstanding, c.instances[0].in_flight) == (0, 0)
