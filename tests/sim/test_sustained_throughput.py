"""Throughput under sustained load: finite and steady on short queries, a lower bound at the search's cap."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from hexsim.cli import main
from hexsim.cluster import load_cluster
from hexsim.experiment import Experiment
from hexsim.metrics.summary import attainment
from hexsim.metrics.throughput import max_rate
from hexsim.resources import default_cluster
from hexsim.sim import throughput
from hexsim.sim.simulate import run_experiment
from hexsim.sim.throughput import SPAN_SLOS, run_sustained, sustained_count, throughput_per_seed
from hexsim.workload.model import Call, Query, Segment, Stage
from hexsim.workload.sustained import sustained_sample
from hexsim.workload.traces import save_trace

STEPS = [("Selector", (400, 900), (20, 60)), ("Decomposer", (300, 800), (40, 120)), ("Refiner", (300, 600), (20, 60))]


def mac_sql_trace(seed: int, n: int = 60) -> list[Query]:
    """MAC-SQL-like queries: Selector, then maybe Decomposer, then maybe Refiner; short prompts and outputs."""
    rng = np.random.default_rng(seed)
    queries = []
    for i in range(n):
        steps = STEPS[: int(rng.integers(1, 4))]
        calls = [Call(s, int(rng.integers(*prompt)), int(rng.integers(*output))) for s, prompt, output in steps]
        queries.append(Query(f"m{i}", tuple(Stage((c,)) for c in calls)))
    return queries


@pytest.fixture(scope="module")
def experiment() -> Experiment:
    cluster = load_cluster(default_cluster())
    return Experiment.create(cluster, mac_sql_trace(1), rates=(0.03,), slo_scale=3.0).with_policy("lor")


def test_a_sample_spans_many_slos_and_a_longer_one_extends_a_shorter_one(experiment):
    rate = 2.0
    count = sustained_count(experiment, rate)
    assert count == math.ceil(SPAN_SLOS * experiment.slo * rate) > len(experiment.queries)
    sample = sustained_sample(experiment.queries, count, "poisson", rate, seed=4)
    # Poisson arrivals: the last of n comes at n / rate on average, within a few percent for thousands.
    assert sample[-1].arrival == pytest.approx(SPAN_SLOS * experiment.slo, rel=0.1)
    assert len({q.id for q in sample}) == count
    by_id = {q.id: q for q in experiment.queries}
    assert all(q.stages == by_id[q.id.split("~")[0]].stages for q in sample)
    # Drawn with replacement, many times the trace's size: every query of the trace comes up, most many times.
    drawn = [q.id.split("~")[0] for q in sample]
    assert set(drawn) == set(by_id)

    twice = sustained_sample(experiment.queries, 2 * count, "poisson", 2 * rate, seed=4)
    assert [q.id for q in twice[:count]] == [q.id for q in sample]
    assert [2 * q.arrival for q in twice[:count]] == pytest.approx([q.arrival for q in sample], rel=1e-12)
    assert sustained_sample(experiment.queries, count, "poisson", rate, seed=4) == sample
    assert sustained_sample(experiment.queries, count, "poisson", rate, seed=5) != sample


def test_a_query_own_prefix_segments_are_copied_and_shared_ones_stay_shared():
    schema = Segment("db/schema", 256)

    def query(i: int) -> Query:
        return Query(f"q{i}", (Stage((Call("Selector", 600, 10, (schema, Segment(f"question/{i}", 32))),)),))

    sample = sustained_sample([query(0), query(1)], 50, "poisson", 1.0, seed=0)
    keys = [[s.key for s in q.calls[0].prefix] for q in sample]
    assert all(k[0] == "db/schema" for k in keys)
    questions = [k[1] for k in keys]
    assert len(set(questions)) == len(sample)  # one question per copy: no copy hits another's cache
    assert all(k.startswith(f"question/{q.id.split('~')[0][1:]}~") for k, q in zip(questions, sample, strict=True))


@pytest.mark.slow
def test_throughput_of_short_queries_is_finite_and_moves_little_with_the_seed(experiment):
    found = [throughput_per_seed(experiment, seed) for seed in (0, 1)]
    assert all(f.bound is None and math.isfinite(f.rate) for f in found), found
    low, high = sorted(f.rate for f in found)
    assert high / low < 1.10, found
    # It is a sustained rate: half again as fast, the backlog grows and attainment falls short.
    assert attainment(run_sustained(experiment, 1.5 * high, 0), experiment.slo) < experiment.target


def test_a_trace_that_is_one_burst_at_any_rate_still_gets_a_sustained_throughput(experiment):
    tiny = experiment.with_queries(experiment.queries[:5])
    # Replayed as it is, five queries meet the SLO at any rate: the search runs into its cap.
    replayed = max_rate(lambda r: attainment(run_experiment(tiny, r, 0), tiny.slo), tiny.target, 0.03)
    assert replayed.bound == "at_least" and replayed.rate > 1e6
    found = throughput_per_seed(tiny, 0)
    assert found.bound is None and found.rate < 100


@pytest.mark.slow
def test_the_other_trace_seed_gives_nearly_the_same_throughput(experiment):
    other = experiment.with_queries(mac_sql_trace(2))
    first, second = throughput_per_seed(experiment, 0), throughput_per_seed(other, 0)
    assert first.bound is None and second.bound is None
    assert max(first.rate, second.rate) / min(first.rate, second.rate) < 1.10, (first, second)


def test_the_cap_gives_a_lower_bound_in_the_report(experiment, monkeypatch, tmp_path, capsys):
    path = tmp_path / "macsql.jsonl"
    save_trace(list(experiment.queries), path)
    monkeypatch.setattr(throughput, "MAX_QUERIES", 200)
    argv = ["compare", "--trace", str(path), "--policy", "lor", "--policy", "vllm"]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    trace = report["traces"]["macsql"]
    slo = report["slo_scale"] * trace["base_slo_s"]
    cap = 200 / (SPAN_SLOS * slo)
    for policy in ("lor", "vllm"):
        summary = trace["policies"][policy]
        assert summary["throughput_p95_bound"] == "at_least"
        assert summary["throughput_p95_qps"] == pytest.approx(cap, rel=1e-4)
        assert summary["ratios_vs_vllm"]["throughput_p95"] is None  # a bound over a bound is no ratio
    assert main(argv) == 0
    text = capsys.readouterr().out
    (row,) = [line for line in text.splitlines() if line.startswith("throughput (q/s)")]
    assert row.split()[2:] == ["at", "least", f"{cap:.4f}"] * 2
    assert "'at least': the search's highest rate still met it" in " ".join(text.split())


def test_a_search_never_simulates_more_than_its_cap(experiment, monkeypatch):
    sizes = []
    original = throughput.sustained_sample
    monkeypatch.setattr(throughput, "sustained_sample", lambda *a, **k: sizes.append(a[1]) or original(*a, **k))
    found = throughput.sustained_throughput(replace(experiment, seeds=(0,)), max_queries=300)
    assert found.bound == "at_least" and max(sizes) <= 300


def test_tuning_scores_the_mean_sustained_throughput_of_its_seeds(experiment, monkeypatch):
    from hexsim.tune.objective import score

    monkeypatch.setattr(throughput, "SPAN_SLOS", 10)  # the scoring is under test, not the precision
    both = replace(experiment, seeds=(0, 1))
    per_seed = [throughput_per_seed(experiment, seed) for seed in (0, 1)]
    assert all(f.bound is None for f in per_seed)
    assert score(both, "throughput") == pytest.approx(sum(f.rate for f in per_seed) / 2, rel=1e-12)
