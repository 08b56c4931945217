"""SGLang's cache-aware dispatch against hand-computed choices: the imbalance test, the cached
prefix above the threshold, the smallest tree below it, and FCFS queues."""

from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.estimates import Estimates
from hexsim.scheduler.events import Admit, CallFinished, CallSpec, CallStarted, QueryArrived, StageReady
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.sglang import CacheAware
from hexsim.scheduler.state import InstanceState, QueryState, ScheduledCall
from hexsim.scheduler.template import StepShape, WorkflowTemplate
from hexsim.workload.model import Segment
from tests.sim.helpers import MODEL, profile

P = profile()
A = Segment("a", 400)


def task(input_tokens: int, prefix=()) -> ScheduledCall:
    return ScheduledCall(("q", 0, 0), QueryState("q", 0.0, 100.0), CallSpec("s", input_tokens, 7, prefix), 20.0)


def instances(*outstanding: int, sent=None) -> list[InstanceState]:
    out = [InstanceState(i, f"i{i}", P, Estimates(), outstanding=n) for i, n in enumerate(outstanding)]
    for index, prefix in (sent or {}).items():
        out[index].prefixes.sent(prefix)
    return out


def test_imbalanced_load_goes_to_the_shortest_queue():
    # Loads 100, 30, 40: max - min = 70 > 64 and 100 > 30 * 1.5 = 45, imbalanced: the least loaded, i1,
    # although i0 holds the whole prefix.
    assert CacheAware().choose(task(1000, (A,)), instances(100, 30, 40, sent={0: (A,)})).index == 1


def test_both_thresholds_must_be_crossed_to_balance_load():
    # Loads 300, 230, 250: max - min = 70 > 64 but 300 < 230 * 1.5 = 345, balanced: the cached prefix
    # (400 of 1000 tokens, 0.4 > 0.3) decides: i0, the busiest.
    assert CacheAware().choose(task(1000, (A,)), instances(300, 230, 250, sent={0: (A,)})).index == 0
    # Loads 60, 0, 0: 60 > 0 * 1.5 but 60 - 0 is not above 64, balanced again.
    assert CacheAware().choose(task(1000, (A,)), instances(60, 0, 0, sent={0: (A,)})).index == 0


def test_a_match_above_the_threshold_goes_to_its_holder():
    # i1 holds a (400 tokens), i2 holds a and b (700 tokens): the longest match, 700 of 1000 > 0.3, is i2's.
    b = Segment("b", 300)
    cands = instances(0, 0, 0, sent={1: (A,), 2: (A, b)})
    assert CacheAware().choose(task(1000, (A, b)), cands).index == 2


def test_a_match_at_or_below_the_threshold_goes_to_the_smallest_tree():
    # Each call adds to its instance's tree the prompt tokens not already cached there:
    #   c1 (1000 tokens, no match): trees 0 0 0, smallest i0 -> trees 1000 0 0
    #   c2 (500): smallest i1 -> 1000 500 0;  c3 (200): i2 -> 1000 500 200
    #   c4 (100): smallest i2 (200) -> 1000 500 300
    dispatcher, cands = CacheAware(), instances(0, 0, 0)
    assert [dispatcher.choose(task(n), cands).index for n in (1000, 500, 200, 100)] == [0, 1, 2, 2]
    assert dispatcher.tree_tokens == {0: 1000, 1: 500, 2: 300}
    # A match of exactly 0.3 (300 of 1000 tokens, held by i0) is not above the threshold: the
    # smallest tree, i2; i2 had not been sent the segment, so the whole prompt joins its tree.
    c = Segment("c", 300)
    cands[0].prefixes.sent((c,))
    assert dispatcher.choose(task(1000, (c,)), cands).index == 2
    assert dispatcher.tree_tokens[2] == 300 + 1000
    # A match above it (301 of 1000) goes to i0, whose tree gains only the 699 tokens it lacked.
    d = Segment("d", 301)
    cands[0].prefixes.sent((d,))
    assert dispatcher.choose(task(1000, (d,)), cands).index == 0
    assert dispatcher.tree_tokens[0] == 1000 + 699


def test_queues_are_first_come_first_served():
    template = WorkflowTemplate({"a": StepShape(20.0, 200.0)}, {}, default_output=1.0)
    core = SchedulerCore(get_policy("sglang"), [("i0", P)], template, MODEL, SchedulerConfig("sglang", max_running=1))
    core.handle(QueryArrived("q", 100.0), 0.0)
    core.handle(QueryArrived("r", 10.0), 0.0)
    admitted = [d for d in core.handle(StageReady("q", 0, (CallSpec("a", 100, 30), CallSpec("a", 50, 30))), 0.0)]
    core.handle(StageReady("r", 0, (CallSpec("a", 10, 30),)), 0.0)
    for call in (("q", 0, 0), ("q", 0, 1)):
        core.handle(CallStarted(call), 1.0)
        admitted += core.handle(CallFinished(call), 1.0)
    order = [(d.call, d.priority) for d in admitted if isinstance(d, Admit)]
    assert order == [(("q", 0, 0), 0), (("q", 0, 1), 0), (("r", 0, 0), 0)]
