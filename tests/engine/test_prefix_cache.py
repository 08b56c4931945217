"""vLLM's automatic prefix caching in the engine model, checked against hand-traced block counts."""

import random
from collections import Counter
from dataclasses import replace

import pytest

from hexsim.engine.planner import Planner
from hexsim.engine.prefix_cache import SWEEP_AFTER
from hexsim.engine.request import DONE
from hexsim.workload.model import Segment
from tests.sim.helpers import profile

BLOCK = 16


def planner(blocks: int = 10_000, seats: int = 256, budget: int = 8192, **kwargs) -> Planner:
    spec = replace(profile(), kv_capacity_tokens=blocks * BLOCK, max_num_seqs=seats, max_num_batched_tokens=budget)
    return Planner(spec, **kwargs)


def check_cache(p: Planner) -> None:
    """The free pool is what is not in use, shared blocks count once, and the cached set is a tree."""
    cache = p.cache
    assert cache.free == p.capacity - p.used_blocks
    assert p.kv_blocks_in_use() == p.used_blocks <= p.capacity
    assert cache.cached_free == sum(run[2] - run[1] for run in cache.lru)
    assert cache.emptied == sum(run[1] == run[2] for run in cache.lru)
    stack = [(cache.root, None)]
    while stack:
        node, parent = stack.pop()
        assert 0 <= node.hold <= node.present <= node.owned
        covered = sorted((run[1], run[2]) for run in node.runs)
        edges = [node.hold] + [b for pair in covered for b in pair] + [node.present]
        assert edges == sorted(edges) and all(edges[i] == edges[i + 1] for i in range(0, len(edges), 2))
        if parent is not None and parent is not cache.root and node.present:
            assert parent.present == parent.owned
        stack.extend((child, node) for child in node.children.values())


def drain(p: Planner, computed: Counter | None = None) -> list:
    """Run the engine until idle; returns the requests in the order they finished."""
    done = []
    while (plan := p.plan()) is not None:
        for r, chunk in plan.prefills:
            if computed is not None:
                computed[r.handle] += chunk
        done += p.finish(plan).finished
        if p.cache is not None:
            check_cache(p)
    return done


def test_calls_sharing_a_prefix_compute_it_once_when_sent_one_after_another():
    p = planner()
    shared = (Segment("instructions", 48), Segment("schema", 16))  # 64 tokens: four full blocks
    computed = Counter()
    for n in range(5):
        p.add(f"c{n}", 64 + 20, 3, prefix=shared)
        drain(p, computed)
    assert computed == {"c0": 84, "c1": 20, "c2": 20, "c3": 20, "c4": 20}
    assert (p.cache.queries, p.cache.hits) == (5 * 84, 4 * 64)


def test_a_prompt_that_is_all_prefix_still_computes_its_last_block():
    p = planner()
    shared = (Segment("whole", 64),)
    computed = Counter()
    for n in range(2):
        p.add(f"c{n}", 64, 2, prefix=shared)
        drain(p, computed)
    # vLLM looks up at most prompt - 1 tokens: three blocks, and recomputes the fourth.
    assert computed == {"c0": 64, "c1": 16}


def test_segments_that_end_inside_a_block_share_only_the_blocks_both_fill():
    p = planner()
    computed = Counter()
    p.add("a", 100, 2, prefix=(Segment("x", 40), Segment("y", 30)))
    drain(p, computed)
    # "b" agrees on x (40 tokens): two full blocks; the third block holds y's first tokens for "a".
    p.add("b", 100, 2, prefix=(Segment("x", 40), Segment("z", 30)))
    drain(p, computed)
    # "c" agrees on x and y (70 tokens): four full blocks.
    p.add("c", 100, 2, prefix=(Segment("x", 40), Segment("y", 30)))
    drain(p, computed)
    assert computed == {"a": 100, "b": 100 - 32, "c": 100 - 64}


def test_freed_cached_blocks_are_evicted_least_recently_freed_first():
    # Ten blocks. Each call: a 48-token prefix (three full blocks) and one token of its own
    # (a partial block, reused first when freed): four blocks while it runs.
    p = planner(blocks=10)
    computed = Counter()

    def send(name, key):
        p.add(name, 49, 1, prefix=(Segment(key, 48),))
        drain(p, computed)

    send("a1", "A")  # free queue: 6 unhashed, then [A]
    send("b1", "B")  # 3 unhashed, [A B]
    send("c1", "C")  # 0 unhashed, [A B C]
    send("a2", "A")  # hits A, takes the one unhashed block; [B C A]
    send("d1", "D")  # 1 unhashed + evicts B; [C A D]
    send("c2", "C")  # hits C; [A D C]
    send("b2", "B")  # misses: evicts A; [D C B]
    send("a3", "A")  # misses: evicts D; [C B A]
    send("c3", "C")  # hits
    assert computed == {
        "a1": 49, "b1": 49, "c1": 49, "a2": 1, "d1": 49, "c2": 1, "b2": 49, "a3": 49, "c3": 1,
    }  # fmt: skip


def test_two_running_calls_sharing_a_prefix_hold_its_blocks_once():
    p = planner()
    shared = (Segment("schema", 64),)
    first = p.add("a", 84, 40, prefix=shared)
    p.finish(p.plan())  # "a" computes its prompt and its first token
    second = p.add("b", 90, 40, prefix=shared)
    plan = p.plan()
    assert [(r.handle, chunk) for r, chunk in plan.prefills] == [("b", 26)]
    p.finish(plan)
    # a: 84 tokens in KV, six blocks; b: 90 tokens, six blocks; four of them are the shared ones.
    assert first.kv == 84 and second.kv == 90
    assert p.used_blocks == p.kv_blocks_in_use() == 6 + 6 - 4
    check_cache(p)
    assert {r.handle for r in drain(p)} == {"a", "b"}
    assert p.used_blocks == 0 and p.cache.free == p.capacity


def test_without_prefix_caching_every_call_computes_its_whole_prompt():
    p = planner(prefix_caching=False)
    computed = Counter()
    for n in range(3):
        p.add(f"c{n}", 84, 3, prefix=(Segment("s", 64),))
        drain(p, computed)
    assert computed == {"c0": 84, "c1": 84, "c2": 84}
    assert p.cache is None


def test_a_preempted_call_finds_its_own_blocks_again_unless_they_were_reused():
    # Nine blocks, two seats; "a" (70 tokens, five blocks) runs beside "b" (a 32-token prefix).
    # Decoding, b needs blocks at 32 and 48 tokens, a at 80: the ninth is gone when b reaches
    # 48 tokens and b, admitted last, is preempted holding three full blocks (its prefix's two
    # and one of its own). a finishes (20 tokens) before it needs another block, so b, back
    # with 32 + 17 tokens, finds all three and computes one token.
    p = planner(blocks=9, seats=2)
    computed = Counter()
    p.add("a", 70, 20)
    p.add("b", 32, 40, prefix=(Segment("pb", 32),))
    done = drain(p, computed)
    assert [(r.handle, r.preemptions) for r in done] == [("a", 0), ("b", 1)]
    assert computed["b"] == 32 + 1
    # With eight blocks b is preempted at 64 tokens and a, growing to 92, reuses b's own two
    # blocks (a request frees its tail first, so they are the first reused): b finds its prefix.
    p = planner(blocks=8, seats=2)
    computed = Counter()
    p.add("a", 32, 60, prefix=(Segment("pa", 32),))
    p.add("b", 32, 40, prefix=(Segment("pb", 32),))
    done = drain(p, computed)
    assert [(r.handle, r.preemptions) for r in done] == [("a", 0), ("b", 1)]
    assert computed["b"] == 32 + (64 + 1 - 32)


@pytest.mark.parametrize("scheduling", ["fcfs", "priority"])
@pytest.mark.parametrize("seed", range(4))
def test_under_kv_pressure_every_call_finishes_once_and_blocks_stay_accounted(scheduling, seed):
    rng = random.Random(seed)
    p = planner(blocks=64, seats=12, budget=96, scheduling=scheduling)
    schemas = [Segment(f"db{i}", rng.randrange(10, 200)) for i in range(3)]
    templates = [Segment(f"t{i}", rng.randrange(5, 120)) for i in range(3)]
    sent = 0
    finished: Counter = Counter()
    for _ in range(400):
        if sent < 150 and rng.random() < 0.5:
            prefix = (rng.choice(templates), rng.choice(schemas))[: rng.randrange(0, 3)]
            prompt = sum(s.tokens for s in prefix) + rng.randrange(1, 60)
            priority = rng.randrange(-3, 4) if scheduling == "priority" else 0
            p.add(sent, prompt, rng.randrange(1, 80), priority, prefix)
            sent += 1
        plan = p.plan()
        if plan is None:
            continue
        iterations = rng.randrange(1, plan.iterations + 1)
        for r in p.finish(plan, iterations).finished:
            finished[r.handle] += 1
        check_cache(p)
    while (plan := p.plan()) is not None:
        for r in p.finish(plan).finished:
            finished[r.handle] += 1
        check_cache(p)
    assert finished == Counter(range(sent))
    assert p.used_blocks == 0 and p.cache.free == p.capacity
    assert p.cache.hits > 0


@pytest.mark.parametrize("seed", range(4))
def test_a_key_given_two_lengths_is_two_contents_and_the_blocks_stay_accounted(seed):
    # Traces pooled without renaming their segments: one key, several lengths after one path.
    rng = random.Random(seed)
    p = planner(blocks=64, seats=12, budget=96)
    finished: Counter = Counter()
    for sent in range(150):
        prefix = (Segment("template", 40), Segment(f"query{rng.randrange(3)}", rng.choice((50, 90, 130))))
        p.add(sent, 170 + rng.randrange(1, 40), rng.randrange(1, 60), 0, prefix)
        plan = p.plan()
        if plan is not None:
            for r in p.finish(plan, rng.randrange(1, plan.iterations + 1)).finished:
                finished[r.handle] += 1
            check_cache(p)
    for r in drain(p):
        finished[r.handle] += 1
    assert finished == Counter(range(150))
    assert p.used_blocks == 0 and p.cache.free == p.capacity
    lengths = {(node.tokens, len(node.children)) for node in p.cache.root.children.values()}
    assert lengths == {(40, 9)}  # three keys at three lengths after the template


def test_an_aborted_call_frees_its_blocks_and_leaves_its_prefix_cached():
    p = planner()
    request = p.add("a", 84, 50, prefix=(Segment("s", 64),))
    p.finish(p.plan())
    p.abort(request)
    check_cache(p)
    assert request.state == DONE and p.used_blocks == 0
    computed = Counter()
    p.add("b", 84, 2, prefix=(Segment("s", 64),))
    drain(p, computed)
    assert computed == {"b": 20}


def test_an_engine_whose_cache_never_fills_keeps_its_free_queue_bounded():
    # Each call takes back the blocks the one before it freed, leaving empty runs in the queue that
    # only an eviction would pass; with room to spare there is none, so they are swept out instead.
    p = planner(blocks=1_000_000)
    shared = (Segment("instructions", 64), Segment("schema", 64), Segment("question", 64))
    computed = Counter()
    calls = 2 * SWEEP_AFTER
    for n in range(calls):
        p.add(n, 192 + 20, 1, prefix=shared)
        drain(p, computed)
        assert len(p.cache.lru) <= 2 * SWEEP_AFTER + 2
    assert computed[0] == 212 and all(computed[n] == 20 for n in range(1, calls))


def test_calls_admitted_in_one_iteration_share_the_prefix_the_first_is_computing():
    # vLLM caches a block as soon as it is allocated for the tokens scheduled, so the second
    # call, admitted after the first in the same step, hits the first's prefix blocks.
    p = planner()
    shared = (Segment("schema", 64),)
    p.add("a", 84, 2, prefix=shared)
    p.add("b", 90, 2, prefix=shared)
    plan = p.plan()
    assert [(r.handle, chunk) for r, chunk in plan.prefills] == [("a", 84), ("b", 26)]
    p.finish(plan)
    check_cache(p)
    # a: 84 tokens in KV, six blocks; b: 90 tokens, six blocks; four of them are shared.
    assert p.used_blocks == 6 + 6 - 4
    assert {r.handle for r in drain(p)} == {"a", "b"} and p.cache.hits == 64
