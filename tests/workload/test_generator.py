import json
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hexsim.cli.trace import run_fit, run_generate
from hexsim.errors import InputError
from hexsim.workload.chess_stats import (
    CANDIDATE,
    EVALUATE,
    RETRIEVER,
    REVISE,
    UNIT_TESTER,
    default_stats,
    fit_chess_stats,
    load_stats,
    save_stats,
    stats_to_record,
)
from hexsim.workload.generator import generate_chess_trace
from hexsim.workload.model import Call, Query, Stage, group_chess_stages
from hexsim.workload.prefixes import with_prefix_model
from hexsim.workload.trace_stats import trace_statistics
from hexsim.workload.traces import load_trace, save_trace

REPO = Path(__file__).resolve().parents[2]
SHARED_TRACES = REPO.parent / "shared" / "data" / "traces"
N_GENERATED = 5000
# The generator draws skeletons from the fitted empirical distribution, so the only gap to the
# shared traces is sampling noise of 5000 draws: about 0.015 total-variation distance for these
# ~11-bin histograms (sum of sqrt(p(1-p)/n) terms). 0.05 is three times that and still fails if a
# few percent of the mass sits on the wrong count.
MAX_TV_DISTANCE = 0.05


@pytest.fixture(scope="module")
def shared() -> list[Query]:
    if not SHARED_TRACES.is_dir():
        pytest.skip(f"shared traces not found at {SHARED_TRACES}")
    return [q for i in (1, 2, 3) for q in load_trace(SHARED_TRACES / f"chess_bird_trace{i}.json")]


@pytest.fixture(scope="module")
def generated() -> list[Query]:
    return generate_chess_trace(default_stats(), N_GENERATED, np.random.default_rng(1))


def step_lengths(queries: list[Query]) -> dict[str, np.ndarray]:
    lengths: dict[str, list[tuple[int, int]]] = {}
    for query in queries:
        for call in query.calls:
            lengths.setdefault(call.step, []).append((call.input_tokens, call.output_tokens))
    return {step: np.array(pairs, dtype=float) for step, pairs in lengths.items()}


def histogram(queries: list[Query], step: str) -> Counter:
    return Counter(sum(call.step == step for call in query.calls) for query in queries)


def tv_distance(a: Counter, b: Counter) -> float:
    na, nb = sum(a.values()), sum(b.values())
    return 0.5 * sum(abs(a[k] / na - b[k] / nb) for k in a.keys() | b.keys())


def test_step_means_match_shared_traces(shared, generated):
    real, synthetic = step_lengths(shared), step_lengths(generated)
    for step, lengths in real.items():
        if len(lengths) < 20:
            continue
        np.testing.assert_allclose(synthetic[step].mean(axis=0), lengths.mean(axis=0), rtol=0.10, err_msg=step)


@pytest.mark.parametrize("step", [REVISE, EVALUATE])
def test_call_count_distributions_match_shared_traces(shared, generated, step):
    assert tv_distance(histogram(shared, step), histogram(generated, step)) < MAX_TV_DISTANCE


def test_within_query_input_correlation_is_reproduced(generated):
    assert fit_chess_stats(generated).input_correlation == pytest.approx(default_stats().input_correlation, abs=0.05)


def test_same_seed_same_trace_different_seed_different_trace():
    stats = default_stats()
    first = generate_chess_trace(stats, 50, np.random.default_rng(7))
    assert first == generate_chess_trace(stats, 50, np.random.default_rng(7))
    assert first != generate_chess_trace(stats, 50, np.random.default_rng(8))
    assert [q.id for q in first] == [f"q{i}" for i in range(50)]
    assert all(q.arrival is None and q.slo is None for q in first)


def test_every_query_has_the_chess_stage_structure(generated):
    for query in generated:
        first, last = query.stages[0], query.stages[-1]
        assert [c.step for c in first.calls] == [RETRIEVER]
        assert [c.step for c in last.calls] == [UNIT_TESTER]
        candidates = [s for s in query.stages if s.calls[0].step == CANDIDATE]
        assert len(candidates) == 1 and len(candidates[0].calls) >= 2
        assert all(c.input_tokens >= 1 and c.output_tokens >= 1 for c in query.calls)


def test_stats_round_trip(tmp_path):
    stats = default_stats()
    save_stats(stats, tmp_path / "stats.json")
    assert load_stats(tmp_path / "stats.json") == stats


def test_shipped_stats_are_fitted_from_the_shared_traces(shared):
    assert fit_chess_stats(shared) == default_stats()


def test_bundled_default_trace_is_current():
    # `hexsim trace generate --queries 500 --seed 0`: the generator's queries, with CHESS's prefixes.
    bundled = load_trace(REPO / "traces" / "chess_default.jsonl")
    assert bundled == with_prefix_model(generate_chess_trace(default_stats(), 500, np.random.default_rng(0)), "chess")


def write_record(path: Path, edit) -> Path:
    record = stats_to_record(default_stats())
    edit(record)
    path.write_text(json.dumps(record), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda r: r.pop("skeletons"), "skeletons"),
        (lambda r: r["skeletons"][2].pop("count"), "skeletons[2].count"),
        (lambda r: r["skeletons"][0].update(revise_rounds=-1), "skeletons[0].revise_rounds"),
        (lambda r: r["steps"]["revise"].update(input_quantiles=[5, 3]), "steps.revise.input_quantiles"),
        (lambda r: r["steps"].pop("evaluate"), "steps"),
        (lambda r: r.update(input_correlation=2), "input_correlation"),
    ],
)
def test_load_stats_errors_name_file_and_key(tmp_path, edit, key):
    path = write_record(tmp_path / "bad.json", edit)
    with pytest.raises(InputError, match=re.escape(f"key '{key}'")) as err:
        load_stats(path)
    assert str(path) in str(err.value)


def test_fit_rejects_a_query_outside_the_chess_workflow():
    calls = [Call(RETRIEVER, 300, 5), Call(REVISE, 5000, 50), Call(CANDIDATE, 9000, 500)]
    with pytest.raises(InputError, match="query bad"):
        fit_chess_stats([Query("bad", group_chess_stages(calls))])


def test_run_generate_writes_a_loadable_trace_with_the_chess_prefixes_unless_told_otherwise(tmp_path):
    from hexsim.workload.prefixes import load_prefix_model, with_prefix_model

    generated = generate_chess_trace(default_stats(), 3, np.random.default_rng(0))
    run_generate(3, 0, tmp_path / "chess.jsonl", None)
    assert load_trace(tmp_path / "chess.jsonl") == with_prefix_model(generated, load_prefix_model("chess"))
    assert any(call.prefix for query in load_trace(tmp_path / "chess.jsonl") for call in query.calls)
    run_generate(3, 0, tmp_path / "plain.jsonl", None, prefix_model="none")
    assert load_trace(tmp_path / "plain.jsonl") == generated


@pytest.mark.parametrize(
    ("queries", "seed", "name", "flag"),
    [(0, 0, "t.jsonl", "--queries"), (1, -1, "t.jsonl", "--seed"), (1, 0, "t.json", "--out")],
)
def test_run_generate_validates_arguments(tmp_path, queries, seed, name, flag):
    with pytest.raises(InputError, match=f"^{flag}:"):
        run_generate(queries, seed, tmp_path / name, None)


def test_trace_fit_writes_the_stats_trace_generate_reads_and_its_traces_resemble_the_source(tmp_path):
    # Prompts half as long again as the bundled trace's: traces drawn from the default stats would not pass.
    source = tmp_path / "source.jsonl"
    queries = load_trace(REPO / "traces" / "chess_default.jsonl")[:300]
    def longer(stage: Stage) -> Stage:
        return Stage(tuple(replace(c, input_tokens=c.input_tokens * 3 // 2) for c in stage.calls))

    longer_queries = [replace(q, stages=tuple(longer(stage) for stage in q.stages)) for q in queries]
    save_trace(longer_queries, source)
    run_fit(source, tmp_path / "stats.json")
    run_generate(3000, 4, tmp_path / "synthetic.jsonl", tmp_path / "stats.json")
    original, synthetic = (trace_statistics(load_trace(p)) for p in (source, tmp_path / "synthetic.jsonl"))
    # The generator redraws whole query shapes and token quantiles: means agree within sampling noise.
    assert synthetic["calls_per_query"]["mean"] == pytest.approx(original["calls_per_query"]["mean"], rel=0.05)
    for step, values in original["steps"].items():
        drawn = synthetic["steps"][step]
        assert drawn["calls"] / 3000 == pytest.approx(values["calls"] / 300, rel=0.15), step
        assert drawn["input_tokens"]["p50"] == pytest.approx(values["input_tokens"]["p50"], rel=0.1), step
