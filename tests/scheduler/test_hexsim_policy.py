"""hexsim's dispatch against hand-computed numbers: run time against keeping every instance busy,
the prefill a cached prefix skips, batch slowdown, KV room, a query's home; urgency queues."""

import pytest

from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.estimates import Estimates
from hexsim.scheduler.events import CallSpec, QueryArrived, StageReady
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.run_cost import RunCost
from hexsim.scheduler.state import InstanceState, QueryState, ScheduledCall
from hexsim.scheduler.template import StepShape, WorkflowTemplate
from hexsim.workload.model import Segment
from tests.sim.helpers import MODEL, profile

# Standalone time of a call on these profiles: base per iteration, plus prefill per prompt token.
# One prefill iteration and (output - 1) decode iterations: t = prefill_token * prompt + base * output.
FAST = profile(base=0.01, prefill_token=0.001, kv_capacity_tokens=20_000)
SLOW = profile(base=0.03, prefill_token=0.003, kv_capacity_tokens=20_000)
SCHEMA = Segment("schema", 3000)
# cost = run - 4 / max(queued, 1) (+ queued if the KV does not fit), run = t * (1 + 0.1 * running)
CONFIG = SchedulerConfig(
    policy="hexsim", idle_weight=4.0, eps=1.0, batch_slowdown=0.1, cache_weight=1.0, kv_wait=1.0, home_slack=2.0
)


def task(input_tokens: int, prefix=(), output: float = 10.0, query: QueryState | None = None) -> ScheduledCall:
    spec = CallSpec("s", input_tokens, None, prefix)
    return ScheduledCall(("q", 0, 0), query or QueryState("q", 0.0, 100.0), spec, output)


def instance(index: int, prof, queued=0.0, running=0, kv_tokens=0.0, sent=()) -> InstanceState:
    inst = InstanceState(index, f"i{index}", prof, Estimates(), queued_work=queued, running=running)
    inst.kv_tokens = kv_tokens
    for prefix in sent:
        inst.prefixes.sent(prefix)
    return inst


def t(prof, prompt: float, output: float = 10.0) -> float:
    return prof.standalone_time(prompt, output)


def cost(dispatcher: RunCost, call: ScheduledCall, inst: InstanceState) -> float:
    return dispatcher.costs(call, [inst])[0][0]


def run(dispatcher: RunCost, call: ScheduledCall, inst: InstanceState) -> float:
    return dispatcher.costs(call, [inst])[0][1]


def test_an_instance_near_idle_draws_short_calls_while_long_ones_go_where_they_run_fastest():
    dispatcher = RunCost(CONFIG, Estimates())
    cands = [instance(0, FAST, queued=8.0), instance(1, SLOW)]
    # Short call, 500 tokens: fast 0.6 - 4/8 = 0.1, idle slow 1.8 - 4/1 = -2.2 -> slow.
    # Long call, 4000 tokens: fast 4.1 - 0.5 = 3.6, idle slow 12.3 - 4 = 8.3 -> fast.
    assert [cost(dispatcher, task(500), c) for c in cands] == pytest.approx([0.1, -2.2])
    assert dispatcher.choose(task(500), cands).index == 1
    assert [cost(dispatcher, task(4000), c) for c in cands] == pytest.approx([3.6, 8.3])
    assert dispatcher.choose(task(4000), cands).index == 0
    # With work on both, speed decides: the short call goes to the slow instance only while its
    # queue is below W / (t_slow - t_fast + W / 8) = 4 / (1.2 + 0.5).
    crossing = 4 / (t(SLOW, 500) - t(FAST, 500) + 0.5)
    below = [instance(0, FAST, queued=8.0), instance(1, SLOW, queued=0.9 * crossing)]
    above = [instance(0, FAST, queued=8.0), instance(1, SLOW, queued=1.1 * crossing)]
    assert crossing > 1.0  # above the eps floor, where the queue still counts
    assert dispatcher.choose(task(500), below).index == 1
    assert dispatcher.choose(task(500), above).index == 0


def test_a_cached_prefix_counts_as_skipped_prefill():
    dispatcher = RunCost(CONFIG, Estimates())
    call = task(4000, prefix=(SCHEMA,))
    # i0 (fast) holds no prefix and queued work 2 s; i1 (fast) holds the 3000-token schema and 2.5 s:
    # i0: t(4000) - 4/2 = 4.1 - 2 = 2.1; i1: t(1000) - 4/2.5 = 1.1 - 1.6 = -0.5.
    cands = [instance(0, FAST, queued=2.0), instance(1, FAST, queued=2.5, sent=[(SCHEMA,)])]
    assert [cost(dispatcher, call, c) for c in cands] == pytest.approx([2.1, -0.5])
    assert dispatcher.choose(call, cands).index == 1
    half = RunCost(SchedulerConfig(policy="hexsim", cache_weight=0.5), Estimates())
    # Half the cached prefill counted as skipped: prompt 4000 - 1500 = 2500 on i1.
    assert run(half, call, cands[1]) == pytest.approx(t(FAST, 2500))


def test_calls_running_beside_slow_a_call_and_a_full_kv_cache_makes_it_wait():
    dispatcher = RunCost(CONFIG, Estimates())
    call = task(4000)
    # 5 running: run = t * (1 + 0.1 * 5) = 4.1 * 1.5 = 6.15.
    assert run(dispatcher, call, instance(0, FAST, running=5)) == pytest.approx(6.15)
    # 17,000 of 20,000 KV tokens held: 4000 + 10 more do not fit, so it waits behind all 3 s queued
    # (kv_wait 1): 4.1 - 4/3 + 3 against 4.1 - 4/3 when it fits.
    assert cost(dispatcher, call, instance(0, FAST, queued=3.0, kv_tokens=17_000)) == pytest.approx(4.1 - 4 / 3 + 3)
    assert cost(dispatcher, call, instance(0, FAST, queued=3.0, kv_tokens=15_000)) == pytest.approx(4.1 - 4 / 3)


@pytest.mark.parametrize(("idle_weight", "expected"), [(4.0, [0, 1, 1, 0]), (2.0, [0, 0, 0, 0])])
def test_parallel_calls_sharing_a_prompt_go_together_unless_an_idle_instance_draws_them(idle_weight, expected):
    template = WorkflowTemplate({"s": StepShape(10.0, 4000.0)}, {}, default_output=10.0)
    config = SchedulerConfig(policy="hexsim", idle_weight=idle_weight, eps=1.0, home_slack=0.0)
    core = SchedulerCore(get_policy("hexsim"), [("i0", FAST), ("i1", FAST)], template, MODEL, config)
    core.handle(QueryArrived("q", 100.0), 0.0)
    stage = tuple(CallSpec("s", 4000, None, (SCHEMA,)) for _ in range(3))
    dispatched = [d.instance for d in core.handle(StageReady("q", 0, stage), 0.0) if type(d).__name__ == "Dispatch"]
    dispatched.append(core.handle(StageReady("q", 0, (stage[0],), 3), 0.0)[0].instance)
    # Queued work counts each call's whole standalone time, t(4000) = 4.1 s; a cached call runs
    # t(1000) = 1.1 s. W = 4: first, both idle, 4.1 - 4 = 0.1, the tie to i0. Second: i0 cached
    # 1.1 - 4/4.1 = 0.124 against idle i1's 0.1 -> i1. Third: both cached with 4.1 s queued, a tie,
    # kept by the query's home (i1, its last long call). Fourth: i1 1.1 - 4/8.2 = 0.61 against i0's
    # 0.124 -> i0.
    # W = 2: the idle term is too weak to outweigh the 3 s of prefill the cache skips: 1.1 - 2/4.1 =
    # 0.61 against 2.1, then 1.1 - 2/8.2 = 0.86 and 1.1 - 2/12.3 = 0.94 against 2.1: all on i0.
    assert dispatched == expected


def test_a_querys_long_calls_stay_home_unless_it_costs_more_than_home_slack_run_times():
    dispatcher = RunCost(CONFIG, Estimates())
    query = QueryState("q", 0.0, 100.0)
    idle = [instance(0, FAST), instance(1, FAST)]
    assert dispatcher.choose(task(4000, query=query), idle).index == 0  # tie: i0 becomes home
    # Home i0 with 5 s queued: 4.1 - 0.8 = 3.3, idle i1: 0.1; 3.3 - 0.1 <= 2 * 4.1 -> home.
    assert dispatcher.choose(task(4000, query=query), [instance(0, FAST, queued=5.0), instance(1, FAST)]).index == 0
    # With 20 calls running there too: 4.1 * 3 - 0.8 = 11.5, 11.4 over the best > 8.2 -> i1, the new
    # home, kept even when i0 is idle again (a tie at 0.1).
    crowded = [instance(0, FAST, queued=5.0, running=20), instance(1, FAST)]
    assert dispatcher.choose(task(4000, query=query), crowded).index == 1
    assert dispatcher.choose(task(4000, query=query), idle).index == 1
    # A short call (at most 2048 prompt tokens) goes to its lowest cost and moves no home:
    # idle i0 2.148 - 4 against i1's 2.148 - 2.
    busy_home = [instance(0, FAST), instance(1, FAST, queued=2.0)]
    assert dispatcher.choose(task(2048, query=query), busy_home).index == 0
    assert dispatcher.choose(task(4000, query=query), busy_home).index == 1
    # Another query has a home of its own: i0, the lowest cost.
    assert dispatcher.choose(task(4000), busy_home).index == 0


def test_its_queues_are_ordered_by_latest_start_and_passed_on_as_priority():
    template = WorkflowTemplate({"s": StepShape(10.0, 4000.0)}, {}, default_output=10.0)
    core = SchedulerCore(get_policy("hexsim"), [("i0", FAST)], template, MODEL, CONFIG)
    assert core.engine_priority
    core.handle(QueryArrived("q", 100.0), 0.0)
    dispatch = core.handle(StageReady("q", 0, (CallSpec("s", 4000, None),)), 0.0)[0]
    assert dispatch.key == pytest.approx(dispatch.deadline - t(FAST, 4000))
