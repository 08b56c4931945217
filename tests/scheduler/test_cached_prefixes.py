"""The scheduler's guess of each instance's prefix cache, kept from the calls it sent where."""

from hexsim.cluster import load_cluster
from hexsim.resources import default_cluster
from hexsim.scheduler.cached_prefixes import CachedPrefixes
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.events import CallSpec, QueryArrived, StageReady
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.template import default_template
from hexsim.workload.model import Segment, block_segments

A, B, C, D = Segment("a", 40), Segment("b", 30), Segment("c", 25), Segment("d", 10)


def test_the_longest_leading_run_sent_is_cached_and_the_least_recently_sent_goes_first():
    cache = CachedPrefixes(capacity_tokens=100)
    cache.sent((A, B))  # queue, least recent first: b a
    assert (cache.cached_tokens((A, B)), cache.cached_tokens((A, C)), cache.cached_tokens((B,))) == (70, 40, 0)
    cache.sent((A, C))  # b c a: 95 tokens
    cache.sent((D,))  # b c a d: 105 tokens, over 100, so b goes
    assert cache.tokens == 75
    assert (cache.cached_tokens((A, B)), cache.cached_tokens((A, C)), cache.cached_tokens((D,))) == (40, 65, 10)
    cache.sent((Segment("e", 60),))  # c a d e: 135, so c (25) and a (40) go; d stays
    assert (cache.cached_tokens((A, C)), cache.cached_tokens((D,)), cache.tokens) == (0, 10, 70)


def test_the_core_records_each_calls_prefix_at_the_instance_it_dispatches_it_to():
    cluster = load_cluster(default_cluster())
    instances = [(i.name, i.profile) for i in cluster.instances]
    core = SchedulerCore(get_policy("vllm"), instances, default_template(), cluster.model, SchedulerConfig("vllm"))
    shared = (Segment("instructions", 2892), Segment("schema-3", 4000))
    core.handle(QueryArrived("q", 100.0), 0.0)
    specs = (CallSpec("revise", 8000, 10, shared), CallSpec("revise", 7000, 10, shared[:1]))
    decisions = core.handle(StageReady("q", 0, specs), 0.0)
    where = [d.instance for d in decisions if type(d).__name__ == "Dispatch"]
    assert where == [0, 1]  # round robin
    held = [inst.prefixes.cached_tokens(shared) for inst in core.instances]
    assert held == [2892 + 4000, 2892, 0, 0]


def test_prompts_share_block_segments_exactly_as_far_as_their_full_blocks_agree():
    first = block_segments(list(range(100)), 16)
    second = block_segments(list(range(40)) + [7] * 60, 16)
    assert [s.tokens for s in first] == [16] * 6
    agree = [x == y for x, y in zip(first, second, strict=True)]
    assert agree == [True, True, False, False, False, False]  # tokens 0-31 agree, token 40 differs
    assert block_segments("x" * 130, 64, 16) == (Segment(str(hash("x" * 64)), 16),) * 2
