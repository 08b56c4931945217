"""llm-d's scorers against hand-computed numbers: the weighted total, the block cap, ties in turn,
the KV estimate the core keeps, and FCFS queues."""

import pytest

from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.estimates import Estimates
from hexsim.scheduler.events import Admit, CallFinished, CallSpec, CallStarted, QueryArrived, StageReady
from hexsim.scheduler.llmd import LlmdScorers
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.state import InstanceState, QueryState, ScheduledCall
from hexsim.scheduler.template import StepShape, WorkflowTemplate
from hexsim.workload.model import Segment
from tests.sim.helpers import MODEL, profile

KV = profile(kv_capacity_tokens=16_000)  # 1000 blocks of 16 tokens: 16000 usable
A, B, S = Segment("a", 1600), Segment("b", 800), Segment("s", 5000)


def task(input_tokens: int, prefix=()) -> ScheduledCall:
    return ScheduledCall(("q", 0, 0), QueryState("q", 0.0, 100.0), CallSpec("s", input_tokens, 7, prefix), 20.0)


def instance(index: int, outstanding=0, running=0, kv_tokens=0.0, sent=()) -> InstanceState:
    inst = InstanceState(index, f"i{index}", KV, Estimates(), outstanding=outstanding, running=running)
    inst.kv_tokens = kv_tokens
    for prefix in sent:
        inst.prefixes.sent(prefix)
    return inst


def test_weighted_scores_by_hand():
    # waiting = outstanding - running: 4, 0, 2 -> queue score (4 - w) / (4 - 0): 0, 1, 0.5
    # KV usage = kv_tokens / 16000: 0.5, 0.75, 0 -> 1 - usage: 0.5, 0.25, 1
    # prompt 3200 tokens = 200 blocks; i2 holds segment a (1600 tokens = 100 blocks): 0.5, others 0
    # total = 2 * queue + 2 * kv + 3 * prefix: 1.0, 2.5, 1.0 + 2.0 + 1.5 = 4.5
    cands = [
        instance(0, outstanding=5, running=1, kv_tokens=8000),
        instance(1, outstanding=2, running=2, kv_tokens=12000),
        instance(2, outstanding=3, running=1, sent=[(A,)]),
    ]
    call = task(3200, (A, B))
    assert LlmdScorers().scores(call, cands) == pytest.approx([1.0, 2.5, 4.5])
    assert LlmdScorers().choose(call, cands).index == 2
    # Without the cached prefix i2 still wins on its empty KV cache: 1.0 + 2.0 = 3.0 against i1's 2.5;
    # with i1's KV usage at 0.25 instead (4000 tokens: 2 + 2 * 0.75 = 3.5) i1's empty queue wins.
    cands[2] = instance(2, outstanding=3, running=1)
    assert LlmdScorers().choose(call, cands).index == 2
    cands[1] = instance(1, outstanding=2, running=2, kv_tokens=4000)
    assert LlmdScorers().scores(call, cands) == pytest.approx([1.0, 3.5, 3.0])
    assert LlmdScorers().choose(call, cands).index == 1


def test_kv_usage_counts_at_most_the_whole_cache():
    # 20000 estimated tokens on a 16000-token cache: usage 1, KV score 0 (not negative).
    cands = [instance(0, kv_tokens=20000), instance(1, kv_tokens=16000)]
    assert LlmdScorers().scores(task(100), cands) == pytest.approx([2.0, 2.0])


def test_prefix_score_counts_whole_blocks_of_the_first_256():
    # Prompt 10000 tokens = 625 blocks, capped at 256; segment s (5000 tokens = 312 blocks) matches all 256: 1.0.
    # Prompt 3200 tokens (200 blocks) with 1608 tokens cached: 100 whole blocks (the 8 left are no block): 0.5.
    cands = [instance(0, sent=[(S,)]), instance(1)]
    assert LlmdScorers().scores(task(10000, (S,)), cands) == pytest.approx([2 + 2 + 3.0, 2 + 2 + 0.0])
    odd = Segment("odd", 1608)
    assert LlmdScorers().scores(task(3200, (odd,)), [instance(0, sent=[(odd,)])]) == pytest.approx([2 + 2 + 1.5])
    # A prompt shorter than a block has no block to match: score 0.
    assert LlmdScorers().scores(task(15, (Segment("t", 15),)), [instance(0, sent=[(Segment("t", 15),)])]) == [4.0]


def test_ties_go_to_the_tied_instances_in_turn():
    # Three idle instances: queue 1, KV 1, prefix 0 each, a three-way tie.
    idle = [instance(0), instance(1), instance(2)]
    scorers = LlmdScorers()
    assert [scorers.choose(task(100), idle).index for _ in range(4)] == [0, 1, 2, 0]
    # A tie between two of three: i1 is busier (waiting 1 of max 1: queue score 0). The counter
    # goes on from 4: turns 5, 6, 7 pick tied[4 % 2], tied[5 % 2], tied[6 % 2].
    uneven = [instance(0), instance(1, outstanding=1), instance(2)]
    assert [scorers.choose(task(100), uneven).index for _ in range(3)] == [0, 2, 0]


TEMPLATE = WorkflowTemplate({"a": StepShape(20.0, 200.0)}, {}, default_output=1.0)


def one_instance_core(**config) -> SchedulerCore:
    return SchedulerCore(get_policy("llmd"), [("i0", KV)], TEMPLATE, MODEL, SchedulerConfig(policy="llmd", **config))


def test_the_core_keeps_the_kv_tokens_of_running_calls_with_shared_prefixes_once():
    core = one_instance_core()
    core.handle(QueryArrived("q", 100.0), 0.0)
    shared = Segment("p", 400)
    core.handle(StageReady("q", 0, (CallSpec("a", 1000, 30, (shared,)), CallSpec("a", 600, 30, (shared,)))), 0.0)
    inst = core.instances[0]
    assert inst.kv_tokens == 0.0  # admitted, no first token yet: nothing counted
    core.handle(CallStarted(("q", 0, 0)), 1.0)
    assert inst.kv_tokens == 1000 + 20.0  # prompt + the step's estimated output (20), not max_tokens
    core.handle(CallStarted(("q", 0, 1)), 1.0)
    assert inst.kv_tokens == 1020.0 + 620.0 - 400  # the shared 400-token segment counts once
    core.handle(CallFinished(("q", 0, 0)), 2.0)
    assert inst.kv_tokens == 620.0  # the segment is still held by the second call
    core.handle(CallFinished(("q", 0, 1)), 3.0)
    assert inst.kv_tokens == 0.0


def test_queues_are_first_come_first_served():
    # One seat (max_running 1): calls wait in dispatch order, sent with vLLM priority 0.
    core = one_instance_core(max_running=1)
    core.handle(QueryArrived("q", 100.0), 0.0)
    core.handle(QueryArrived("r", 10.0), 0.0)  # an earlier deadline changes nothing
    first = core.handle(StageReady("q", 0, (CallSpec("a", 100, 30), CallSpec("a", 5000, 30))), 0.0)
    core.handle(StageReady("r", 0, (CallSpec("a", 50, 30),)), 0.0)
    admitted = [d for d in first if isinstance(d, Admit)]
    for call in (("q", 0, 0), ("q", 0, 1)):
        core.handle(CallStarted(call), 1.0)
        admitted += [d for d in core.handle(CallFinished(call), 1.0) if isinstance(d, Admit)]
    assert [(d.call, d.priority) for d in admitted] == [(("q", 0, 0), 0), (("q", 0, 1), 0), (("r", 0, 0), 0)]
