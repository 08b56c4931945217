"""Replay a workload through the scheduler on a simulated cluster of engines."""

from collections.abc import Callable, Sequence

import simpy

from hexsim.cluster import ClusterSpec
from hexsim.metrics.records import InstanceRecord, RunRecords, call_record, query_record
from hexsim.scheduler.core import Scheduler
from hexsim.scheduler.estimates import StepMeans
from hexsim.scheduler.registry import Policy
from hexsim.scheduler.task import CallTask, QueryState
from hexsim.sim.engine import Engine
from hexsim.workload.model import Query


class SimulatedCluster:
    """The SimPy model: an arrival process, one engine process per instance, and the scheduler."""

    def __init__(
        self,
        cluster: ClusterSpec,
        policy: Policy,
        estimates: StepMeans,
        slo: float,
        timeline: list | None = None,
        on_query_done: Callable[[QueryState], None] | None = None,
    ):
        self.env = simpy.Environment()
        self.slo = slo
        self.on_query_done = on_query_done
        self.scheduler = Scheduler(policy, [(i.name, i.profile) for i in cluster.instances], estimates, cluster.model)
        self.engines = [
            Engine(self.env, i, inst.profile, self.scheduler, self._call_finished, self._call_failed, timeline)
            for i, inst in enumerate(cluster.instances)
        ]
        self.names = [inst.name for inst in cluster.instances]
        self.gpus = [inst.gpu for inst in cluster.instances]
        self.states: list[QueryState] = []
        self.tasks: list[CallTask] = []
        self.failed_calls = 0

    def run(self, queries: Sequence[Query], until: float | None = None) -> RunRecords:
        """Simulate until every query has finished (or failed), or until `until` seconds."""
        self.env.process(self._arrivals(queries))
        self.env.run(until=until)
        return self._records()

    def _arrivals(self, queries: Sequence[Query]):
        env = self.env
        for query in queries:
            delay = query.arrival - env.now
            if delay > 0:
                yield env.timeout(delay)
            state, tasks = self.scheduler.query_arrived(query, self.slo, env.now)
            self.states.append(state)
            self._dispatched(tasks)

    def _dispatched(self, tasks: list[CallTask]) -> None:
        self.tasks.extend(tasks)
        engines = self.engines
        for task in tasks:
            engines[task.instance].notify()

    def _call_finished(self, task: CallTask) -> None:
        following = self.scheduler.call_finished(task, self.env.now)
        if following:
            self._dispatched(following)
        elif task.query.finish is not None and self.on_query_done is not None:
            self.on_query_done(task.query)

    def _call_failed(self, task: CallTask) -> None:
        self.failed_calls += 1
        self.scheduler.call_failed(task, self.env.now)
        if task.query.pending == 0 and self.on_query_done is not None:
            self.on_query_done(task.query)

    def _records(self) -> RunRecords:
        names = self.names
        instances = tuple(
            InstanceRecord(
                name=names[e.index],
                gpu=self.gpus[e.index],
                busy_time=e.busy_time,
                iterations=e.iterations,
                segments=e.segments,
                peak_kv_blocks=e.peak_blocks,
                kv_capacity_blocks=e.profile.kv_capacity_blocks,
            )
            for e in self.engines
        )
        return RunRecords(
            policy=self.scheduler.policy.name,
            queries=tuple(query_record(s) for s in self.states),
            calls=tuple(call_record(t, names[t.instance]) for t in self.tasks),
            instances=instances,
            makespan=self.env.now,
        )
