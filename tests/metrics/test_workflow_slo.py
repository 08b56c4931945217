"""A mixed trace: each workflow's own base SLO, each query scheduled and counted against its workflow's."""

import json

import pytest

from hexsim.cli import main
from hexsim.cluster import ClusterSpec, InstanceSpec, load_cluster
from hexsim.experiment import Experiment
from hexsim.metrics.base_slo import query_time
from hexsim.metrics.records import QueryRecord, RunRecords
from hexsim.metrics.report import policy_summary
from hexsim.metrics.summary import attainment, scale_deadline
from hexsim.resources import default_cluster
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.template import WorkflowTemplate
from hexsim.sim.simulate import simulate
from hexsim.workload.model import Call, Query, Stage
from hexsim.workload.traces import save_trace
from tests.sim.helpers import MODEL, profile


def record(query_id: str, workflow: str | None, latency: float | None) -> QueryRecord:
    return QueryRecord(query_id, 0.0, 1.0, latency, 1, workflow)


def test_attainment_holds_each_query_to_its_workflow_slo():
    queries = [record("c", "chess", 100.0), record("m", "macsql", 12.0), record("u", "macsql", None)]
    slos = {"chess": 70.0, "macsql": 10.0}
    # chess 100 / 70 = 1.43 of its SLO, macsql 12 / 10 = 1.2 of its, the third never finished.
    assert attainment(queries, slos) == 0.0
    assert attainment(queries, {"chess": 105.0, "macsql": 12.5}) == pytest.approx(2 / 3)
    assert attainment(queries, {"chess": 99.0, "macsql": 12.5}) == pytest.approx(1 / 3)
    # One SLO of 50 s for all: only the 12-second query meets it.
    assert attainment(queries, 50.0) == pytest.approx(1 / 3)
    # Deadlines in base SLOs: the queries' latencies over their own workflow's, sorted: 1.2, 1.43, inf.
    assert scale_deadline(queries[:2], 0.5, slos) == pytest.approx(1.2)
    assert scale_deadline(queries[:2], 0.95, slos) == pytest.approx(100 / 70)
    assert scale_deadline(queries, 0.95, slos) == float("inf")
    assert scale_deadline(queries[:2], 0.95, 50.0) == pytest.approx(2.0)  # one base: latency deadline / base


def two_workflows() -> list[Query]:
    """A prefill-heavy CHESS-like query at 0 s and a decode-heavy MAC-SQL-like one at 10 s, each alone."""
    return [
        Query("c", (Stage((Call("revise", 1000, 1),)),), arrival=0.0, workflow="chess"),
        Query("m", (Stage((Call("Decomposer", 10, 200),)),), arrival=10.0, workflow="macsql"),
    ]


def test_two_queries_of_two_workflows_by_hand():
    # fast: 10 ms per iteration, 1 ms per prompt token; slow: 30 ms per iteration, 1 ms per prompt token.
    cluster = ClusterSpec(MODEL, (InstanceSpec("fast", profile(base=0.01)), InstanceSpec("slow", profile(base=0.03))))
    # chess: one iteration with the 1000-token prompt: 1.01 s fast, 1.03 s slow; base SLO 1.02 s.
    # macsql: 0.01 + 10 ms prompt, then 199 decode iterations: 0.02 + 1.99 = 2.01 s fast,
    #         0.04 + 5.97 = 6.01 s slow; base SLO 4.01 s. Over both queries: (1.02 + 4.01) / 2 = 2.515 s.
    queries = two_workflows()
    e = Experiment.create(cluster, queries, WorkflowTemplate.from_queries(queries), slo_scale=2.0)
    assert e.base_slo == pytest.approx(2.515, rel=1e-12)
    assert e.base_slos == pytest.approx({"chess": 1.02, "macsql": 4.01}, rel=1e-12)
    # Each query is scheduled against 2 x its workflow's base SLO, unless it carries its own.
    sample = e.with_slos(queries)
    assert [q.slo for q in sample] == pytest.approx([2.04, 8.02], rel=1e-12)
    assert e.with_slos([Query("x", queries[0].stages, slo=5.0, workflow="chess")])[0].slo == 5.0

    records = simulate(cluster, sample, get_policy("lor"), e.slo, template=e.template)
    # Each arrives to an idle cluster and goes to the first instance: 1.01 s and 2.01 s, 0.990 and 0.501 of
    # their own base SLOs (against one base SLO of 2.515 s they would be 0.402 and 0.799).
    by_id = {q.query_id: q for q in records.queries}
    assert by_id["c"].latency == pytest.approx(1.01, rel=1e-9) and by_id["c"].workflow == "chess"
    assert by_id["m"].latency == pytest.approx(2.01, rel=1e-9) and by_id["m"].workflow == "macsql"
    assert [by_id["c"].slo, by_id["m"].slo] == pytest.approx([2.04, 8.02], rel=1e-12)

    summary = policy_summary(records, e.bases, (0.5, 0.75, 1.0))
    assert summary["attainment"] == {"0.5": 0.0, "0.75": 0.5, "1": 1.0}
    assert summary["deadline_p95_s"] == pytest.approx(2.01, abs=1e-6)
    assert summary["deadline_p95_scale"] == pytest.approx(1.01 / 1.02, abs=1e-6)
    assert summary["deadline_p99_scale"] == pytest.approx(1.01 / 1.02, abs=1e-6)
    chess, macsql = summary["workflows"]["chess"], summary["workflows"]["macsql"]
    assert chess["attainment"] == {"0.5": 0.0, "0.75": 0.0, "1": 1.0}
    assert macsql["attainment"] == {"0.5": 0.0, "0.75": 1.0, "1": 1.0}
    assert chess["deadline_p95_scale"] == pytest.approx(1.01 / 1.02, abs=1e-6)
    assert macsql["deadline_p95_scale"] == pytest.approx(2.01 / 4.01, abs=1e-6)
    assert (chess["p50_s"], chess["queries"], chess["completed"]) == (pytest.approx(1.01, abs=1e-6), 1, 1)
    assert (macsql["p99_s"], macsql["queries"], macsql["completed"]) == (pytest.approx(2.01, abs=1e-6), 1, 1)
    # The same records against one base SLO: the 0.5x attainment is the MAC-SQL query's, met at 0.402.
    single = policy_summary(RunRecords("lor", records.queries, (), (), 12.0), e.base_slo, (0.5,))
    assert single["attainment"] == {"0.5": 0.5} and "workflows" not in single


def test_a_trace_of_one_workflow_reports_as_before(tmp_path):
    cluster = ClusterSpec(MODEL, (InstanceSpec("fast", profile()),))
    one = [Query("c", (Stage((Call("revise", 1000, 1),)),), workflow="chess")]
    e = Experiment.create(cluster, one, WorkflowTemplate.from_queries(one))
    assert e.base_slos == {} and e.bases == e.base_slo and e.slos == e.slo
    assert e.with_slos(one) == one


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    path = tmp_path_factory.mktemp("mixed") / "mixed.jsonl"
    save_trace(two_workflows(), path)
    return path


def test_simulate_reports_each_workflow_against_its_own_base_slo_on_the_paper_cluster(mixed, capsys):
    argv = ["simulate", "--trace", str(mixed), "--arrivals", "trace", "--policy", "lor", "--policy", "hexgen"]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    profiles = [inst.profile for inst in load_cluster(default_cluster()).instances]
    queries = {q.workflow: q for q in two_workflows()}
    # By hand: each workflow's one query alone on each of the four instances, averaged.
    bases = {w: sum(query_time(q, p) for p in profiles) / len(profiles) for w, q in queries.items()}
    assert {w: v["base_slo_s"] for w, v in report["workflows"].items()} == pytest.approx(bases, abs=1e-6)
    assert report["base_slo_s"] == pytest.approx(sum(bases.values()) / 2, abs=1e-6)
    for policy in ("lor", "hexgen"):
        summary = report["policies"][policy]
        # Alone on an idle cluster, each query runs on the fastest instance it is sent to, an A100.
        alone = {w: query_time(q, profiles[0]) for w, q in queries.items()}
        ratio = {w: alone[w] / bases[w] for w in queries}
        for scale, share in summary["attainment"].items():
            assert share == sum(ratio[w] <= float(scale) for w in queries) / 2, (policy, scale)
        for w in queries:
            mine = summary["workflows"][w]
            assert mine["queries"] == mine["completed"] == 1
            assert mine["p50_s"] == pytest.approx(alone[w], abs=1e-5)
            assert mine["deadline_p95_scale"] == pytest.approx(ratio[w], abs=1e-5)
            assert all(share == float(ratio[w] <= float(s)) for s, share in mine["attainment"].items())
        assert summary["deadline_p95_scale"] == pytest.approx(max(ratio.values()), abs=1e-5)
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == report  # same inputs, same numbers


def test_compare_reports_each_workflow_at_every_rate_and_its_base_slo(mixed, capsys):
    argv = ["compare", "--trace", str(mixed), "--policy", "lor", "--rates", "0.01", "0.02", "--span-slos", "2"]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    trace = report["traces"]["mixed"]
    assert set(trace["workflows"]) == {"chess", "macsql"}
    lor = trace["policies"]["lor"]
    for rate in ("0.01", "0.02"):
        at = lor["by_rate"][rate]
        assert set(at["workflows"]) == {"chess", "macsql"}
        for scale, share in at["attainment"].items():
            # Two queries, one per workflow: the mix's attainment is the mean of the workflows'.
            both = [at["workflows"][w]["attainment"][scale] for w in ("chess", "macsql")]
            assert share == pytest.approx(sum(both) / 2)
    assert lor["workflows"] == lor["by_rate"]["0.01"]["workflows"]
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == report
