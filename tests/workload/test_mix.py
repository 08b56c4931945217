"""Mixed workloads: queries naming their workflow, and `hexsim trace mix` drawing them from several traces."""

from collections import Counter

import pytest

from hexsim.cli import main
from hexsim.errors import InputError, ParameterError
from hexsim.workload.mix import mix_traces, share_counts, workflow_names
from hexsim.workload.model import Call, Query, Segment, Stage
from hexsim.workload.traces import load_trace, save_trace


def chess_like(n: int) -> list[Query]:
    """Queries q0.. with a template every query shares and a question segment each query has to itself."""
    return [
        Query(
            f"q{i}",
            (
                Stage((Call("revise", 900, 20, (Segment("tpl/revise", 600), Segment(f"question/q{i}", 100))),)),
                Stage((Call("evaluate", 400, 5),)),
            ),
            arrival=float(i),
        )
        for i in range(n)
    ]


def mac_sql_like(n: int) -> list[Query]:
    """Selector, then Decomposer for odd queries: one or two calls; ids q0.. like the other trace's."""
    calls = [Call("Selector", 700, 40), Call("Decomposer", 600, 90)]
    return [Query(f"q{i}", tuple(Stage((c,)) for c in calls[: 1 + i % 2])) for i in range(n)]


def test_a_jsonl_query_keeps_its_workflow_and_a_trace_without_one_reads_as_before(tmp_path):
    named = [Query("a", (Stage((Call("Selector", 5, 1),)),), workflow="mac-sql.v2"), *chess_like(1)]
    named[1] = Query(named[1].id, named[1].stages, workflow="chess")
    path = tmp_path / "t.jsonl"
    save_trace(named, path)
    assert '"workflow":"mac-sql.v2"' in path.read_text()
    assert load_trace(path) == named
    assert workflow_names(named) == ["chess", "mac-sql.v2"]
    save_trace(chess_like(2), path)
    assert "workflow" not in path.read_text()
    assert [q.workflow for q in load_trace(path)] == [None, None]
    assert workflow_names(load_trace(path)) == []


def test_a_trace_where_one_query_names_a_workflow_and_another_does_not_is_named_by_both_lines(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"id": "a", "stages": [[{"step": "s", "input_tokens": 5, "output_tokens": 1}]]}\n\n'
        '{"id": "b", "workflow": "chess", "stages": [[{"step": "s", "input_tokens": 5, "output_tokens": 1}]]}\n'
    )
    with pytest.raises(InputError, match=r"t.jsonl:3: line 3 names a workflow and line 1 does not"):
        load_trace(path)


@pytest.mark.parametrize("bad", ['"a b"', '""', "7", '"-x"', '"x=1"', '"' + "w" * 65 + '"'])
def test_a_workflow_name_is_letters_digits_and_a_few_marks(tmp_path, bad):
    path = tmp_path / "t.jsonl"
    path.write_text(
        f'{{"id": "a", "workflow": {bad}, "stages": [[{{"step": "s", "input_tokens": 5, "output_tokens": 1}}]]}}\n'
    )
    with pytest.raises(InputError, match=r"t.jsonl:1: field 'workflow' must be a name of 1-64 letters"):
        load_trace(path)


@pytest.mark.parametrize(
    ("count", "weights", "expected"),
    [
        # 10 x 1/3 = 3.33 and 10 x 2/3 = 6.67: 3 and 6, the one left to the larger remainder.
        (10, {"a": 1, "b": 2}, {"a": 3, "b": 7}),
        # 7 x 1/2 = 3.5 each: a tie goes to the name first in order.
        (7, {"b": 1, "a": 1}, {"a": 4, "b": 3}),
        (6, {"a": 0.5, "b": 0.25, "c": 0.25}, {"a": 3, "b": 2, "c": 1}),
        (100, {"chess": 3, "macsql": 1}, {"chess": 75, "macsql": 25}),
    ],
)
def test_shares_are_rounded_by_largest_remainder(count, weights, expected):
    assert share_counts(count, weights) == expected


def test_a_mix_draws_each_trace_without_replacement_until_it_is_used_up_then_again():
    traces = {"chess": chess_like(3), "macsql": mac_sql_like(4)}
    mixed = mix_traces(traces, 10, {"chess": 7, "macsql": 3}, seed=0)
    assert len(mixed) == 10 and len({q.id for q in mixed}) == 10
    assert Counter(q.workflow for q in mixed) == {"chess": 7, "macsql": 3}
    # 7 of 3 chess queries: every one twice (two rounds), one a third time; its repeats end in ~1, ~2.
    drawn = Counter(q.id.split("~")[0] for q in mixed if q.workflow == "chess")
    assert sorted(drawn.values()) == [2, 2, 3] and set(drawn) == {"chess/q0", "chess/q1", "chess/q2"}
    assert {q.id for q in mixed if q.id.endswith("~2")} < {f"chess/q{i}~2" for i in range(3)}
    # 3 of 4 MAC-SQL queries: no repeat. Ids of both traces start q0..: the workflow keeps them apart.
    assert all(q.id.startswith("macsql/q") and "~" not in q.id for q in mixed if q.workflow == "macsql")
    by_id = {f"{w}/{q.id}": q for w, qs in traces.items() for q in qs}
    for query in mixed:
        original = by_id[query.id.split("~")[0]]
        assert [(c.step, c.input_tokens, c.output_tokens) for c in query.calls] == [
            (c.step, c.input_tokens, c.output_tokens) for c in original.calls
        ]
        assert query.arrival is None  # a mix gets its arrivals from an arrival process
    # The template segment stays shared; each drawn query has its question to itself.
    segments = [s.key for q in mixed for c in q.calls for s in c.prefix]
    assert Counter(segments)["tpl/revise"] == 7
    questions = [k for k in segments if "question" in k]
    assert len(questions) == len(set(questions)) == 7
    assert all(k.startswith("chess/question/q") for k in questions)


def test_a_mix_is_the_same_for_a_seed_and_another_for_another_seed():
    traces = {"chess": chess_like(5), "macsql": mac_sql_like(5)}
    weights = {"chess": 1, "macsql": 1}
    first = mix_traces(traces, 12, weights, seed=3)
    assert mix_traces(traces, 12, weights, seed=3) == first
    other = mix_traces(traces, 12, weights, seed=4)
    assert [q.id for q in other] != [q.id for q in first]
    assert Counter(q.workflow for q in other) == Counter(q.workflow for q in first) == {"chess": 6, "macsql": 6}


def test_too_few_queries_for_every_workflow_is_an_error():
    with pytest.raises(ParameterError, match="1 queries leave none for workflow 'macsql'"):
        mix_traces({"chess": chess_like(2), "macsql": mac_sql_like(2)}, 1, {"chess": 1, "macsql": 1}, seed=0)


def test_trace_mix_names_workflows_by_file_and_weighs_by_size_unless_told(tmp_path, capsys):
    save_trace(chess_like(4), tmp_path / "chess.jsonl")
    save_trace(mac_sql_like(2), tmp_path / "macsql.jsonl")
    out = tmp_path / "mixed.jsonl"
    argv = ["trace", "mix", str(tmp_path / "chess.jsonl"), str(tmp_path / "macsql.jsonl"), "--out", str(out)]
    assert main(argv) == 0
    assert capsys.readouterr().out.split() == ["wrote", str(out) + ":", "6", "queries", "(chess", "4,", "macsql", "2)"]
    mixed = load_trace(out)
    assert Counter(q.workflow for q in mixed) == {"chess": 4, "macsql": 2}
    assert {q.id for q in mixed} == {*(f"chess/q{i}" for i in range(4)), "macsql/q0", "macsql/q1"}
    text = out.read_text()
    assert main([*argv, "--seed", "0"]) == 0 and out.read_text() == text  # the default seed is 0
    assert main([*argv, "--seed", "1"]) == 0 and out.read_text() != text
    capsys.readouterr()
    assert main([*argv, "--queries", "8", "--weights", "macsql=3", "chess=1"]) == 0
    assert Counter(q.workflow for q in load_trace(out)) == {"chess": 2, "macsql": 6}
    # A mixed trace mixes again: its queries keep their workflows and ids.
    save_trace(mac_sql_like(3), tmp_path / "din-sql.jsonl")
    again = tmp_path / "again.jsonl"
    assert main(["trace", "mix", str(out), str(tmp_path / "din-sql.jsonl"), "--out", str(again)]) == 0
    remixed = load_trace(again)
    assert Counter(q.workflow for q in remixed) == {"chess": 2, "macsql": 6, "din-sql": 3}
    assert {q.id for q in remixed if q.workflow != "din-sql"} == {q.id for q in load_trace(out)}
