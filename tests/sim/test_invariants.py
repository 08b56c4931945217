"""Engine invariants under KV-cache pressure, on every registered policy."""

import pytest

from hexsim.errors import ParameterError
from hexsim.scheduler.registry import POLICIES
from hexsim.workload.model import Call, Query, Segment, Stage
from tests.sim.helpers import check_run, cluster, profile, run, single_call_query


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


@pytest.mark.parametrize("policy", list(POLICIES))
def test_with_shared_prefixes_under_kv_pressure_no_call_is_lost_and_shared_blocks_count_once(policy, watched):
    # The drafts of a query share an instruction segment and one of three schemas.
    def query(i: int) -> Query:
        prefix = (Segment("instructions", 200), Segment(f"schema{i % 3}", 150))
        drafts = Stage(tuple(Call("draft", 500, 700, prefix) for _ in range(3)))
        return Query(f"q{i}", (drafts, Stage((Call("check", 300, 200, prefix[:1]),))), arrival=0.05 * i)

    queries = [query(i) for i in range(30)]
    spec = cluster(profile(kv_capacity_tokens=4000), profile(kv_capacity_tokens=4000, base=0.02))
    records = run(spec, queries, policy)
    assert sum(c.preemptions for c in records.calls) > 0
    assert all(q.finished is not None for q in records.queries)
    check_run(records, queries, *watched)
    looked_up = sum(inst.prefix_queries for inst in records.instances)
    assert looked_up >= sum(c.input_tokens for q in queries for c in q.calls)
    assert 0 < sum(inst.prefix_hits for inst in records.instances) < looked_up


def test_call_larger_than_the_kv_cache_fails_its_query_only(watched):
    queries = [single_call_query("big", 0.0, 5000, 10), single_call_query("ok", 0.0, 100, 10)]
    records = run(cluster(profile(kv_capacity_tokens=4096)), queries)
    done = {q.query_id: q.finished for q in records.queries}
    assert done["big"] is None and done["ok"] is not None


def test_two_queries_with_one_id_are_refused_before_the_run():
    queries = [single_call_query("same", 0.0, 100, 10), single_call_query("same", 1.0, 100, 10)]
    with pytest.raises(ParameterError, match="queries: two queries have the id 'same'"):
        run(cluster(profile()), queries)
