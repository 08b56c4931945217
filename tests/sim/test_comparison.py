"""Policy comparison over several arrival samples: their queries are pooled for every number."""

import json
from dataclasses import replace

import pytest

from hexsim.cli import main
from hexsim.cluster import load_cluster
from hexsim.metrics.base_slo import base_slo
from hexsim.metrics.summary import attainment
from hexsim.resources import default_cluster, default_trace
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.template import default_template
from hexsim.sim.comparison import ComparisonSetup, compare_trace
from hexsim.workload.traces import load_trace

RATE = 0.05


@pytest.fixture(scope="module")
def setup_and_queries():
    cluster = load_cluster(default_cluster())
    setup = ComparisonSetup(
        cluster=cluster,
        policies=[get_policy("lor")],
        config=SchedulerConfig(),
        template=default_template(),
        base_slo=base_slo(i.profile for i in cluster.instances),
        rates=[RATE],
        slo_scale=2.0,
        scales=[2.0],
        seeds=(3, 4),
    )
    return setup, load_trace(default_trace())[:40]


def one_seed(setup: ComparisonSetup, queries, seed: int, rate: float = RATE):
    return compare_trace(replace(setup, seeds=(seed,), rates=[rate]), queries)["lor"]


def test_records_of_several_seeds_are_those_of_each_seed_pooled(setup_and_queries):
    setup, queries = setup_and_queries
    pooled = compare_trace(setup, queries)["lor"].by_rate[0]
    separate = [one_seed(setup, queries, seed).by_rate[0] for seed in setup.seeds]
    assert len(pooled) == 2 * len(queries)
    assert sorted(q.latency for q in pooled) == sorted(q.latency for run in separate for q in run)
    slo = setup.slo_scale * setup.base_slo
    # Equal sample sizes: the pooled attainment is the mean of the seeds' attainments.
    assert attainment(pooled, slo) == pytest.approx(sum(attainment(run, slo) for run in separate) / 2)


def test_throughput_of_several_seeds_meets_the_target_on_their_mean_attainment(setup_and_queries):
    setup, queries = setup_and_queries
    rate = compare_trace(setup, queries)["lor"].throughput
    slo = setup.slo_scale * setup.base_slo
    per_seed = [attainment(one_seed(setup, queries, seed, rate).by_rate[0], slo) for seed in setup.seeds]
    assert sum(per_seed) / len(per_seed) >= setup.target
    assert min(per_seed) < 1.0  # the rate loads the cluster: the check above is not met trivially


def test_compare_reports_its_seeds_and_rejects_zero(capsys, tmp_path):
    trace = tmp_path / "small.jsonl"
    trace.write_text("".join(default_trace().read_text().splitlines(keepends=True)[:10]))
    code = main(["compare", "--trace", str(trace), "--policy", "lor", "--seed", "5", "--seeds", "2", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["setup"]["seeds"] == [5, 6]
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--seeds", "0"])
    assert exit_info.value.code == 2
    assert "--seeds" in capsys.readouterr().err
