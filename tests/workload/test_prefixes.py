"""Prefix presets: loading them, and the prefixes they give the calls of traces that record only lengths."""

import csv
import hashlib
from collections import defaultdict
from pathlib import Path

import pytest

from hexsim.errors import InputError, ParameterError
from hexsim.workload.model import Call, Query, Segment, Stage
from hexsim.workload.prefix_stats import prefix_statistics
from hexsim.workload.prefixes import apply_prefix_model, load_prefix_model, with_prefix_model
from hexsim.workload.traces import default_prefix_model, load_trace, save_trace

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
GC = "generate_candidate_llama-agent"


def shared(path: str) -> Path:
    found = SHARED / path
    if not found.is_file():
        pytest.skip(f"shared data {found} not available")
    return found


def staged(qid: str, *stages: list[Call]) -> Query:
    return Query(qid, tuple(Stage(tuple(calls)) for calls in stages))


def chess_database(query_id: str) -> int:
    """The documented assignment, computed here from its definition: blake2b(seed, id) mod 11, seed 0."""
    digest = hashlib.blake2b(f"0\0{query_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % 11


@pytest.fixture(scope="module")
def chess():
    return load_prefix_model("chess")


def test_a_candidate_call_of_10000_tokens_gets_the_prefix_computed_from_the_preset(chess):
    query = staged(
        "q",
        [Call(GC, 10_000, 500), Call(GC, 7_000, 400)],
        [Call("revise", 6_000, 80)],
        [Call("unit_tester", 275, 4)],
    )
    (got,) = apply_prefix_model([query], chess)
    db = f"chess/schema/full/db{chess_database('q')}"
    # The longer candidate takes template one (9,114 tokens), the shorter template two (5,248).
    # The schema is the least room its database's calls leave after template and own tokens,
    # less 57 for the question: min(10,000 - 9,114, 7,000 - 5,248, 6,000 - 2,892 - 92) - 57
    # = min(886, 1,752, 3,016) - 57 = 829. The query segment is the rest less the own tokens:
    # 10,000 - 9,114 - 829 = 57 (own 0), 7,000 - 5,248 - 829 = 923, 6,000 - 2,892 - 829 - 92 = 2,187.
    first, second = got.stages[0].calls
    assert first.prefix == (
        Segment(f"chess/{GC}/template-1", 9114),
        Segment(db, 829),
        Segment(f"chess/query/q/{GC}/1", 57),
    )
    assert second.prefix == (
        Segment(f"chess/{GC}/template-2", 5248),
        Segment(db, 829),
        Segment(f"chess/query/q/{GC}/2", 923),
    )
    (revise,) = got.stages[1].calls
    assert revise.prefix == (
        Segment("chess/revise/template", 2892),
        Segment(db, 829),
        Segment("chess/query/q/revise", 2187),
    )
    assert revise.input_tokens - revise.shared_tokens == 92
    assert got.stages[2].calls[0].prefix == ()  # unit_tester: no template, no prefix
    # Lengths, steps and outputs are untouched.
    assert [(c.step, c.input_tokens, c.output_tokens) for c in got.calls] == [
        (c.step, c.input_tokens, c.output_tokens) for c in query.calls
    ]


PRESET = """
databases = 1
question = 10

[steps.evaluate]
template = 100
schema = "s"
own = 5

[steps.ask]
template = 50
query = false
"""


def test_queries_on_one_database_share_template_and_schema_and_parallel_calls_all_but_their_own_part(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(PRESET)
    model = load_prefix_model(path)
    a = staged("a", [Call("evaluate", 400, 1), Call("evaluate", 410, 1), Call("evaluate", 420, 1)])
    b = staged("b", [Call("evaluate", 300, 1), Call("evaluate", 350, 1)], [Call("ask", 80, 1)], [Call("ask", 30, 1)])
    got_a, got_b = apply_prefix_model([a, b], model)
    # Schema: min(400, 410, 420, 300, 350) - 100 - 5 - 10 = 185. Query segments: a's least room after
    # template and schema, 400 - 285 = 115, less own 5 = 110; b's 300 - 285 - 5 = 10.
    shared = (Segment("p/evaluate/template", 100), Segment("p/schema/s/db0", 185))
    assert [c.prefix for c in got_a.calls] == [(*shared, Segment("p/query/a/evaluate", 110))] * 3
    assert [c.input_tokens - c.shared_tokens for c in got_a.calls] == [5, 15, 25]
    assert [c.prefix for c in got_b.stages[0].calls] == [(*shared, Segment("p/query/b/evaluate", 10))] * 2
    # A step without schema or query segment: its template, cut to a call too short for it.
    assert got_b.stages[1].calls[0].prefix == (Segment("p/ask/template", 50),)
    assert got_b.stages[2].calls[0].prefix == (Segment("p/ask/template[:30]", 30),)


def test_a_stages_candidates_take_the_template_variants_longest_first(chess):
    query = staged("v", [Call(GC, 7_000, 1), Call(GC, 10_000, 1), Call(GC, 9_500, 1), Call(GC, 10_000, 1)])
    (got,) = apply_prefix_model([query], chess)
    templates = [c.prefix[0].key.rsplit("-", 1)[1] for c in got.calls]
    # 10,000 (2nd) -> 1, 10,000 (4th) -> 2, 9,500 -> 1 again, 7,000 -> 2.
    assert templates == ["2", "1", "1", "2"]


def test_a_call_too_short_for_its_template_gets_part_of_it_and_no_more(chess):
    query = staged("s", [Call(GC, 9_000, 1)], [Call("revise", 4_000, 1)])
    (got,) = apply_prefix_model([query], chess)
    short, revise = got.calls
    assert short.prefix == (Segment(f"chess/{GC}/template-1[:9000]", 9000),)
    # A call that does not hold its template leaves the schema alone: revise alone sets it,
    # 4,000 - 2,892 - 92 - 57 = 959; its query segment is 4,000 - 2,892 - 959 - 92 = 57.
    assert [s.tokens for s in revise.prefix] == [2892, 959, 57]
    # One that holds it exactly leaves its database's schema no room at all.
    (exact,) = apply_prefix_model([staged("e", [Call(GC, 9_114, 1)], [Call("revise", 4_000, 1)])], chess)
    assert [c.prefix for c in exact.calls] == [
        (Segment(f"chess/{GC}/template-1", 9114),),
        (Segment("chess/revise/template", 2892), Segment("chess/query/e/revise", 4_000 - 2_892 - 92)),
    ]


def test_every_database_is_used_and_a_query_keeps_its_database_whatever_else_the_trace_holds(chess):
    ids = [str(i) for i in range(300)]
    assert {chess.database(i) for i in ids} == set(range(11))
    assert [chess.database(i) for i in ids] == [chess_database(i) for i in ids]


def test_none_strips_prefixes_none_keeps_them_and_a_preset_replaces_them(chess, tmp_path):
    carried = staged("j", [Call("revise", 5_000, 1, (Segment("mine", 100),))])
    assert with_prefix_model([carried], None) == [carried]
    assert with_prefix_model([carried], "none")[0].calls[0].prefix == ()
    assert with_prefix_model([carried], "chess")[0].calls[0].prefix[0] == Segment("chess/revise/template", 2892)
    path = tmp_path / "t.jsonl"
    save_trace([carried], path)
    assert default_prefix_model(path) is None and default_prefix_model(tmp_path / "t.json") == "chess"
    assert load_trace(path) == [carried]


def test_query_ids_must_be_unique(chess):
    query = staged("x", [Call("revise", 5_000, 1)])
    with pytest.raises(ParameterError, match="'x' appears twice"):
        apply_prefix_model([query, query], chess)


def test_the_chess_preset_holds_the_published_template_figures(chess):
    rows = list(csv.DictReader(shared("prompts/chess_prompt_prefixes.csv").open()))
    published = defaultdict(list)
    for row in rows:
        published[row["step"]].append(int(row["fixed_prefix_tokens"]))
    assert {step: list(p.templates) for step, p in chess.steps.items()} == dict(published)
    schema_first = {row["step"] for row in rows if row["first_variable"] == "DATABASE_SCHEMA"}
    assert {step for step, p in chess.steps.items() if p.schema} == schema_first


@pytest.mark.parametrize("index", [1, 2, 3])
def test_on_the_published_traces_prefixes_fit_keys_mean_one_length_and_parallel_calls_share_all_but_the_end(index):
    queries = load_trace(shared(f"traces/chess_bird_trace{index}.json"), "chess")
    sizes = defaultdict(set)
    for query in queries:
        for stage in query.stages:
            for call in stage.calls:
                assert call.shared_tokens <= call.input_tokens
                for segment in call.prefix:
                    sizes[segment.key].add(segment.tokens)
                    assert "[:" not in segment.key  # every call holds its whole template and schema
            if stage.calls[0].step == "evaluate":
                assert len({c.prefix for c in stage.calls}) == 1
                assert min(c.input_tokens - c.shared_tokens for c in stage.calls) == 19
            if stage.calls[0].step == GC:
                assert [c.prefix[0].key[-1] for c in stage.calls] == ["1", "2"]
    assert all(len(tokens) == 1 for tokens in sizes.values())


def test_prefix_statistics_count_what_an_earlier_call_already_had():
    t, d = Segment("t", 100), Segment("d", 50)
    queries = [
        staged("a", [Call("x", 200, 1, (t, d))], [Call("x", 180, 1, (t,))]),
        staged("b", [Call("x", 160, 1, (t, d)), Call("y", 40, 1)]),
    ]
    stats = prefix_statistics(queries)
    # a's first call is new (0); a's second reuses t (100); b's call reuses t and d (150).
    assert stats["steps"]["x"] == {"calls": 3, "with_prefix": 3, "input": 540, "prefix": 400, "reusable": 250}
    assert stats["all"]["reusable"] == 250 and stats["all"]["calls"] == 4 and stats["segments"] == 2


@pytest.mark.parametrize(
    "text, needles",
    [
        ("databases = 2\nbogus = 1\n[steps]\n", ["key 'bogus'", "unknown key"]),
        ("[steps.revise]\ntemplate = -5\n", ["key 'steps.revise.template'", "-5"]),
        ("[steps.revise]\ntemplate = [10, 0]\n", ["key 'steps.revise.template[1]'", "0"]),
        ('[steps."Information Retriever"]\ntemplate = 213\nown = -1\n', ['steps."Information Retriever".own', "-1"]),
        ("[steps.revise]\ntemplate = 10\nschemas = 'x'\n", ["key 'steps.revise.schemas'", "unknown key"]),
        ("databases = 0\n[steps]\n", ["key 'databases'", "0"]),
        ("[steps.revise]\nschema = 'x'\n", ["missing key 'steps.revise.template'"]),
    ],
)
def test_a_bad_preset_is_named_by_file_key_and_value(tmp_path, text, needles):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError) as raised:
        load_prefix_model(path)
    assert str(raised.value).startswith(str(path))
    for needle in needles:
        assert needle in str(raised.value)


def test_an_unknown_preset_name_lists_the_known_ones():
    with pytest.raises(ParameterError) as raised:
        load_prefix_model("chesss")
    assert raised.value.parameter == "prefix_model"
    assert "'chesss'" in raised.value.message and "chess" in raised.value.message
