"""hexsim's earliest-estimated-finish dispatch against hand-computed numbers: speed against queued
work, the prefill a cached prefix skips, batch slowdown, KV room; urgency queues."""

import pytest

from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.estimates import Estimates
from hexsim.scheduler.events import CallSpec, QueryArrived, StageReady
from hexsim.scheduler.finish_time import FinishTime
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.state import InstanceState, QueryState, ScheduledCall
from hexsim.scheduler.template import StepShape, WorkflowTemplate
from hexsim.workload.model import Segment
from tests.sim.helpers import MODEL, profile

# Standalone time of a call on these profiles: base per iteration, plus prefill per prompt token.
# One prefill iteration and (output - 1) decode iterations: t = prefill_token * prompt + base * output.
FAST = profile(base=0.01, prefill_token=0.001, kv_capacity_tokens=20_000)
SLOW = profile(base=0.03, prefill_token=0.003, kv_capacity_tokens=20_000)
SCHEMA = Segment("schema", 3000)
CONFIG = SchedulerConfig(
    policy="hexsim", queue_share=0.5, batch_slowdown=0.1, cache_weight=1.0, kv_wait=1.0, home_slack=2.0
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


def test_a_fast_instance_wins_until_half_its_queued_work_outweighs_its_speed():
    dispatcher = FinishTime(CONFIG, Estimates())
    call = task(4000)
    # Idle slow instance: t_slow. Fast with queued work W: 0.5 W + t_fast. Equal at W = 2 (t_slow - t_fast).
    crossing = 2 * (t(SLOW, 4000) - t(FAST, 4000))
    assert crossing > 0
    below = [instance(0, FAST, queued=0.9 * crossing), instance(1, SLOW)]
    above = [instance(0, FAST, queued=1.1 * crossing), instance(1, SLOW)]
    assert dispatcher.choose(call, below).index == 0
    assert dispatcher.choose(task(4000), above).index == 1  # another query: no home yet
    assert dispatcher.finish(call, below[0]) == pytest.approx(0.45 * crossing + t(FAST, 4000))


def test_a_cached_prefix_counts_as_skipped_prefill():
    dispatcher = FinishTime(CONFIG, Estimates())
    call = task(4000, prefix=(SCHEMA,))
    # i0 (fast) holds no prefix and queued work 2 s; i1 (fast) holds the 3000-token schema and 2.5 s:
    # i0: 0.5 * 2 + t(4000) = 1 + 4 + 0.1 = 5.1; i1: 0.5 * 2.5 + t(1000) = 1.25 + 1 + 0.1 = 2.35.
    cands = [instance(0, FAST, queued=2.0), instance(1, FAST, queued=2.5, sent=[(SCHEMA,)])]
    assert [dispatcher.finish(call, c) for c in cands] == pytest.approx([5.1, 2.35])
    assert dispatcher.choose(call, cands).index == 1
    half = FinishTime(SchedulerConfig(policy="hexsim", cache_weight=0.5), Estimates())
    # Half the cached prefill counted as skipped: prompt 4000 - 1500 = 2500 on i1.
    assert half.finish(call, cands[1]) == pytest.approx(1.25 + t(FAST, 2500))


def test_calls_running_beside_slow_a_call_and_a_full_kv_cache_makes_it_wait():
    dispatcher = FinishTime(CONFIG, Estimates())
    call = task(4000)
    # 5 running: run = t * (1 + 0.1 * 5) = 4.1 * 1.5 = 6.15.
    assert dispatcher.finish(call, instance(0, FAST, running=5)) == pytest.approx(6.15)
    # 17,000 of 20,000 KV tokens held: 4000 + 10 more do not fit, so it waits behind all 3 s queued
    # (1.0 x) besides half of them: 1.5 + 3 + 4.1 = 8.6.
    assert dispatcher.finish(call, instance(0, FAST, queued=3.0, kv_tokens=17_000)) == pytest.approx(8.6)
    assert dispatcher.finish(call, instance(0, FAST, queued=3.0, kv_tokens=15_000)) == pytest.approx(5.6)


def test_parallel_calls_sharing_a_prompt_go_together_until_the_queue_outweighs_the_cache():
    template = WorkflowTemplate({"s": StepShape(10.0, 4000.0)}, {}, default_output=10.0)
    instances = [("i0", FAST), ("i1", FAST)]
    apart = SchedulerConfig(policy="hexsim", queue_share=0.5, batch_slowdown=0.1, home_slack=0.0)
    core = SchedulerCore(get_policy("hexsim"), instances, template, MODEL, apart)
    core.handle(QueryArrived("q", 100.0), 0.0)
    stage = tuple(CallSpec("s", 4000, None, (SCHEMA,)) for _ in range(3))
    dispatched = [d.instance for d in core.handle(StageReady("q", 0, stage), 0.0) if type(d).__name__ == "Dispatch"]
    # With no home slack (below) only the estimates decide. Queued work counts each call's whole
    # standalone time, t(4000) = 4.1 s. First call: both idle and uncached, the tie to i0. Second:
    # i0 holds the schema, 0.5 * 4.1 + t(1000) = 3.15 against i1's 4.1 -> i0. Third: 0.5 * 8.2 +
    # 1.1 = 5.2 against 4.1 -> i1, where parallelism now wins. A fourth: i1 holds the schema too,
    # 0.5 * 4.1 + 1.1 = 3.15 against i0's 5.2 -> i1.
    assert dispatched == [0, 0, 1]
    fourth = core.handle(StageReady("q", 0, (stage[0],), 3), 0.0)
    assert fourth[0].instance == 1


def test_a_querys_long_calls_stay_home_unless_it_is_more_than_home_slack_later():
    dispatcher = FinishTime(CONFIG, Estimates())
    query = QueryState("q", 0.0, 100.0)
    idle = [instance(0, FAST), instance(1, FAST)]
    assert dispatcher.choose(task(4000, query=query), idle).index == 0  # tie: i0 becomes home
    # Home i0 with 5 s queued: 0.5 * 5 + 4.1 = 6.6 <= (1 + 2) * 4.1 = 12.3 on idle i1 -> home.
    assert dispatcher.choose(task(4000, query=query), [instance(0, FAST, queued=5.0), instance(1, FAST)]).index == 0
    # 20 s queued: 14.1 > 12.3 -> i1, the new home, kept even when i0 is idle again (a tie at 4.1).
    assert dispatcher.choose(task(4000, query=query), [instance(0, FAST, queued=20.0), instance(1, FAST)]).index == 1
    assert dispatcher.choose(task(4000, query=query), idle).index == 1
    # A short call (at most 2048 prompt tokens) goes to its earliest finish and moves no home.
    busy_home = [instance(0, FAST), instance(1, FAST, queued=1.0)]
    assert dispatcher.choose(task(2048, query=query), busy_home).index == 0
    assert dispatcher.choose(task(4000, query=query), busy_home).index == 1
    # Another query has a home of its own: idle tie -> i0.
    assert dispatcher.choose(task(4000), busy_home).index == 0


def test_its_queues_are_ordered_by_latest_start_and_passed_on_as_priority():
    template = WorkflowTemplate({"s": StepShape(10.0, 4000.0)}, {}, default_output=10.0)
    core = SchedulerCore(get_policy("hexsim"), [("i0", FAST)], template, MODEL, CONFIG)
    assert core.engine_priority
    core.handle(QueryArrived("q", 100.0), 0.0)
    dispatch = core.handle(StageReady("q", 0, (CallSpec("s", 4000, None),)), 0.0)[0]
    assert dispatch.key == pytest.approx(dispatch.deadline - t(FAST, 4000))
