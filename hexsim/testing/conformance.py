"""The policy conformance suite: promises every policy keeps, as a base class to subclass.

    from hexsim.testing import PolicyConformance

    class TestMyPolicy(PolicyConformance):
        policy = my_policy            # a hexsim.Policy; registered or not

pytest collects the subclass and runs every check on the bundled cluster and trace. hexsim's
own policies run it too.
"""

import io
from dataclasses import replace

import numpy as np

from hexsim.cluster import ClusterSpec, InstanceSpec, load_cluster
from hexsim.metrics.base_slo import base_slo
from hexsim.resources import default_cluster, default_trace
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.log import DecisionLog
from hexsim.scheduler.registry import Policy
from hexsim.scheduler.template import default_template
from hexsim.sim.simulate import simulate
from hexsim.testing.records import check_decision_log, check_records
from hexsim.testing.scripted import through_gateway, through_simulator
from hexsim.workload.arrivals import with_arrivals
from hexsim.workload.model import Call, Query, Stage
from hexsim.workload.traces import load_trace


class PolicyConformance:
    policy: Policy

    # -- helpers ---------------------------------------------------------------------------

    def config(self, **hyperparameters) -> SchedulerConfig:
        return SchedulerConfig(policy=self.policy.name, **hyperparameters)

    def workload(self, n: int, rate: float, seed: int = 3) -> list[Query]:
        return with_arrivals(load_trace(default_trace())[:n], "poisson", rate, np.random.default_rng(seed))

    def run(self, cluster: ClusterSpec, queries: list[Query], **hyperparameters) -> tuple:
        """The run's records and its decision log."""
        sink = io.StringIO()
        slo = 2.0 * base_slo(inst.profile for inst in cluster.instances if inst.model == cluster.model)
        log = DecisionLog(sink, [inst.name for inst in cluster.instances])
        config = self.config(**hyperparameters)
        records = simulate(cluster, queries, self.policy, slo, config=config, template=default_template(), log=log)
        return records, sink.getvalue()

    # -- the promises ----------------------------------------------------------------------

    def test_no_call_is_lost_or_run_twice_and_stages_run_in_order(self):
        cluster = load_cluster(default_cluster())
        queries = self.workload(120, 0.05)
        records, log = self.run(cluster, queries)
        assert all(q.finished is not None for q in records.queries)
        check_records(records, queries)
        check_decision_log(log, {inst.name for inst in cluster.instances})

    def test_only_instances_serving_the_model_get_calls(self):
        ours = load_cluster(default_cluster()).instances
        other = replace(ours[0].profile, model="other/model")
        mixed = (InstanceSpec("other-0", other), ours[0], InstanceSpec("other-1", other), ours[2])
        cluster = ClusterSpec(ours[0].model, mixed)
        queries = self.workload(30, 0.05)
        records, log = self.run(cluster, queries)
        assert {c.instance for c in records.calls} <= {ours[0].name, ours[2].name}
        check_records(records, queries)
        check_decision_log(log, {ours[0].name, ours[2].name})

    def test_works_on_a_one_instance_cluster(self):
        first = load_cluster(default_cluster()).instances[0]
        cluster = ClusterSpec(first.model, (first,))
        queries = self.workload(15, 0.01)
        records, _ = self.run(cluster, queries)
        assert all(q.finished is not None for q in records.queries)
        check_records(records, queries)

    def test_is_deterministic(self):
        cluster = load_cluster(default_cluster())
        (first, first_log), (second, second_log) = (self.run(cluster, self.workload(60, 0.05, seed=9)) for _ in "ab")
        assert first == second and first_log == second_log

    def test_keeps_the_admission_cap(self):
        cluster = load_cluster(default_cluster())
        queries = self.workload(60, 0.06)
        records, log = self.run(cluster, queries, max_running=2)
        assert all(q.finished is not None for q in records.queries)
        check_decision_log(log, {inst.name for inst in cluster.instances}, max_running=2)

    def test_a_call_no_instance_can_hold_fails_its_query_alone(self):
        cluster = load_cluster(default_cluster())
        largest = max(inst.profile.kv_capacity_tokens_usable for inst in cluster.instances)
        huge = Query("huge", (Stage((Call("revise", largest, 10),)),), arrival=0.5)
        queries = [*self.workload(10, 0.05), huge]
        queries.sort(key=lambda q: q.arrival)
        records, log = self.run(cluster, queries)
        done = {q.query_id: q.finished for q in records.queries}
        assert done.pop("huge") is None and all(t is not None for t in done.values())
        decisions = check_decision_log(log, {inst.name for inst in cluster.instances})
        failed = [(r["query"], r["stage"], r["index"]) for r in decisions if r.get("decision") == "fail"]
        assert failed == [("huge", 0, 0)]

    def test_both_runtimes_make_the_same_decisions(self):
        cluster = load_cluster(default_cluster())

        def core(max_running: int) -> SchedulerCore:
            instances = [(inst.name, inst.profile) for inst in cluster.instances]
            config = self.config(max_running=max_running)
            return SchedulerCore(self.policy, instances, default_template(), cluster.model, config)

        for max_running in (0, 2):
            assert through_simulator(core(max_running), cluster) == through_gateway(core(max_running), cluster)
