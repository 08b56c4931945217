"""Invariants every simulation must keep, checked on every registered policy."""

from collections import Counter, defaultdict

import numpy as np
import pytest

from hexsim.cluster import load_cluster
from hexsim.resources import default_cluster, default_trace
from hexsim.scheduler.core import Scheduler
from hexsim.scheduler.registry import POLICIES
from hexsim.sim.engine import Engine
from hexsim.workload.arrivals import with_arrivals
from hexsim.workload.model import Call, Query, Stage
from hexsim.workload.traces import load_trace
from tests.sim.helpers import cluster, profile, run


@pytest.fixture
def watched(monkeypatch):
    """Count completions per call and check the KV cache between every two engine iterations."""
    finished: Counter = Counter()
    kv_checks = []
    original_finished = Scheduler.call_finished
    original_plan = Engine._plan_jump

    def call_finished(self, task, now):
        finished[id(task)] += 1
        return original_finished(self, task, now)

    def plan_jump(self):
        kv_checks.append((self.kv_blocks_in_use(), self.used_blocks, self.capacity))
        return original_plan(self)

    monkeypatch.setattr(Scheduler, "call_finished", call_finished)
    monkeypatch.setattr(Engine, "_plan_jump", plan_jump)
    return finished, kv_checks


def check_run(records, queries, finished, kv_checks):
    assert len(records.queries) == len(queries)
    assert all(n == 1 for n in finished.values()), "a call completed twice"
    assert len(finished) == sum(1 for c in records.calls if c.finished is not None)
    assert kv_checks, "no engine iteration planned"
    for in_use, tracked, capacity in kv_checks:
        assert in_use == tracked <= capacity

    stages = defaultdict(list)
    for call in records.calls:
        stages[call.query_id, call.stage].append(call)
    arrivals = {q.query_id: q for q in records.queries}
    for (qid, stage), calls in stages.items():
        ready = calls[0].ready
        assert all(c.ready == ready for c in calls)
        if stage == 0:
            assert ready == arrivals[qid].arrival
        else:
            previous = stages[qid, stage - 1]
            assert ready == max(c.finished for c in previous), "a stage started before its predecessor finished"
        for c in calls:
            assert c.admitted is not None and ready <= c.admitted <= c.first_token <= c.finished
    for q in records.queries:
        if q.finished is not None:
            last = max(stage for (qid, stage) in stages if qid == q.query_id)
            assert q.finished == max(c.finished for c in stages[q.query_id, last])
            assert sum(len(stages[q.query_id, s]) for s in range(last + 1)) == q.n_calls


@pytest.mark.parametrize("policy", list(POLICIES))
def test_paper_cluster_under_load(policy, watched):
    queries = with_arrivals(load_trace(default_trace())[:150], "poisson", 0.2, np.random.default_rng(3))
    spec = load_cluster(default_cluster())
    records = run(spec, queries, policy)
    assert all(q.finished is not None for q in records.queries)
    check_run(records, queries, *watched)


@pytest.mark.parametrize("policy", list(POLICIES))
def test_kv_pressure_preempts_and_recomputes_without_losing_calls(policy, watched):
    # 4,000 KV tokens per instance; admission reserves blocks for the prompt only, so a batch of
    # 500-token prompts that each generate 700 tokens outgrows the cache.
    parallel = Stage(tuple(Call("draft", 500, 700) for _ in range(3)))
    final = Stage((Call("check", 300, 200),))
    queries = [Query(f"q{i}", (parallel, final), arrival=0.05 * i) for i in range(30)]
    spec = cluster(profile(kv_capacity_tokens=4000), profile(kv_capacity_tokens=4000, base=0.02))
    records = run(spec, queries, policy)
    assert sum(c.preemptions for c in records.calls) > 0
    assert all(q.finished is not None for q in records.queries)
    check_run(records, queries, *watched)


def test_call_larger_than_the_kv_cache_fails_its_query_only(watched):
    from tests.sim.helpers import single_call_query

    queries = [single_call_query("big", 0.0, 5000, 10), single_call_query("ok", 0.0, 100, 10)]
    records = run(cluster(profile(kv_capacity_tokens=4096)), queries)
    done = {q.query_id: q.finished for q in records.queries}
    assert done["big"] is None and done["ok"] is not None
