"""The replayer's prompts: segments as the same ids wherever they appear, and prompts that part where the
segments do, never a token later."""

import pytest

from hexsim.errors import ParameterError
from hexsim.live.prompts import _RANGE, END_ID, FIRST_ID, Prompts
from hexsim.workload.model import Call, Query, Segment, Stage


def query(qid: str, *calls: Call) -> Query:
    return Query(qid, (Stage(calls),))


def common(a: list[int], b: list[int]) -> int:
    """How many leading ids `a` and `b` share."""
    return next((n for n, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


TEMPLATE, SCHEMA = Segment("tpl", 300), Segment("db3", 120)


def test_calls_share_exactly_their_common_segments_and_not_one_token_more():
    queries = [
        query("a", Call("s", 500, 1, (TEMPLATE, SCHEMA, Segment("qa", 50))), Call("s", 480, 1, (TEMPLATE, SCHEMA))),
        query("b", Call("s", 430, 1, (TEMPLATE, SCHEMA, Segment("qb", 7))), Call("s", 310, 1, (TEMPLATE,))),
        query("c", Call("s", 300, 1, (TEMPLATE,)), Call("s", 900, 1, (Segment("other", 300),))),
    ]
    prompts = Prompts(queries, seed=11)
    ids = {(q.id, i): prompts.ids(q.id, 0, i) for q in queries for i in range(2)}
    assert all(len(ids[q.id, i]) == q.stages[0].calls[i].input_tokens for q in queries for i in range(2))
    # Hand-counted: template + schema = 420 where both carry them, the template alone = 300.
    assert common(ids["a", 0], ids["a", 1]) == 420  # a segment of the query against the call's own part
    assert common(ids["a", 0], ids["b", 0]) == 420  # two queries' segments after one schema
    assert common(ids["a", 1], ids["b", 0]) == 420
    assert common(ids["a", 0], ids["b", 1]) == 300  # the schema against another call's own tokens
    assert common(ids["b", 1], ids["c", 0]) == 300  # c's first call is the template alone, 300 of 300
    assert ids["c", 0] == ids["a", 0][:300]
    # Calls that share nothing differ at token 0.
    assert ids["c", 1][0] != ids["a", 0][0]
    assert len({ids[key][0] for key in ids if key != ("c", 1)}) == 1


def test_calls_with_no_prefix_differ_at_token_0_from_each_other_and_from_every_segment():
    # Drawn at random, 1,050 first ids out of 29,000 would all differ once in 100 million runs.
    calls = [Call("s", 20, 1) for _ in range(1000)] + [Call("s", 30, 1, (Segment(f"k{i}", 10),)) for i in range(50)]
    prompts = Prompts([query("q", *calls)], seed=0)
    firsts = [prompts.ids("q", 0, i)[0] for i in range(len(calls))]
    assert len(set(firsts)) == len(calls)


def test_ids_are_a_function_of_the_seed_and_stay_in_the_vocabulary():
    queries = [query("a", Call("s", 5000, 1, (TEMPLATE,)), Call("s", 4000, 1))]
    first, again, other = Prompts(queries, seed=7), Prompts(queries, seed=7), Prompts(queries, seed=8)
    assert first.ids("a", 0, 0) == again.ids("a", 0, 0) and first.ids("a", 0, 1) == again.ids("a", 0, 1)
    assert common(first.ids("a", 0, 0), other.ids("a", 0, 0)) == 0
    every = first.ids("a", 0, 0) + first.ids("a", 0, 1)
    assert FIRST_ID <= min(every) and max(every) < END_ID


def test_a_segment_keeps_its_ids_wherever_it_appears():
    # "db" follows two different templates: the same ids after each, the same first id as well.
    queries = [
        query(
            "a",
            Call("s", 100, 1, (Segment("t1", 30), Segment("db", 40))),
            Call("s", 100, 1, (Segment("t2", 20), Segment("db", 40))),
        )
    ]
    prompts = Prompts(queries, seed=2)
    one, two = prompts.ids("a", 0, 0), prompts.ids("a", 0, 1)
    assert one[30:70] == two[20:60]
    assert one[0] != two[0]


def test_a_segment_cut_shorter_in_one_call_is_the_leading_part_of_the_whole():
    queries = [query("a", Call("s", 100, 1, (Segment("t", 80),)), Call("s", 50, 1, (Segment("t", 40),)))]
    prompts = Prompts(queries, seed=1)
    assert prompts.ids("a", 0, 1)[:40] == prompts.ids("a", 0, 0)[:40]


def test_more_unshared_calls_than_ids_start_with_two_ids_no_other_call_starts_with():
    n = _RANGE + 500
    prompts = Prompts([query("q", *(Call("s", 2, 1) for _ in range(n)))], seed=0)
    heads = {tuple(prompts.ids("q", 0, i)) for i in range(n)}
    assert len(heads) == n


def test_more_segments_after_one_path_than_ids_is_an_error():
    calls = [Call("s", 1, 1, (Segment(f"k{i}", 1),)) for i in range(_RANGE + 1)]
    with pytest.raises(ParameterError, match="29,000 prefix segments"):
        Prompts([query("q", *calls)])


def test_a_content_hashing_cache_hits_exactly_the_blocks_the_segments_promise():
    """vLLM finds a block by a hash chained over every token before it: on the replayer's ids, the
    blocks it could reuse from earlier prompts are exactly the full blocks inside shared segments."""
    import numpy as np

    from hexsim.workload.chess_stats import default_stats
    from hexsim.workload.generator import generate_chess_trace
    from hexsim.workload.prefixes import load_prefix_model, with_prefix_model

    block = 16
    queries = with_prefix_model(
        generate_chess_trace(default_stats(), 12, np.random.default_rng(5)), load_prefix_model("chess")
    )
    prompts = Prompts(queries, seed=9)
    hashes: set[int] = set()
    paths: set[tuple[str, ...]] = set()
    checked = 0
    for query in queries:
        for k, stage in enumerate(query.stages):
            for i, call in enumerate(stage.calls):
                ids = prompts.ids(query.id, k, i)
                chain, hits = 0, 0
                for start in range(0, len(ids) - len(ids) % block, block):
                    chain = hash((chain, tuple(ids[start : start + block])))
                    hits += chain in hashes and hits == start // block
                    hashes.add(chain)
                path, shared, promised = (), 0, 0
                for segment in call.prefix:
                    path += (segment.key,)
                    shared += segment.tokens
                    if path in paths:
                        promised = shared
                    paths.add(path)
                assert hits == promised // block, (query.id, k, i)
                checked += hits > 0
    assert checked > 100
