"""Replay a workload through the scheduler on a simulated cluster of engines."""

from collections.abc import Callable, Sequence

import simpy

from hexsim.cluster import ClusterSpec
from hexsim.metrics.records import InstanceRecord, RunRecords, call_record, query_record
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.core import Scheduler
from hexsim.scheduler.registry import Policy
from hexsim.scheduler.task import CallTask, QueryState
from hexsim.scheduler.template import WorkflowTemplate
from hexsim.sim.engine import Engine
from hexsim.workload.model import Query


class SimulatedCluster:
    """The SimPy model: an arrival process, one engine process per instance, and the scheduler.

    It plays the client's part too: when a stage's calls have all finished it hands the
    query's next stage to the scheduler, which never sees stages before they are ready.
    """

    def __init__(
        self,
        cluster: ClusterSpec,
        policy: Policy,
        template: WorkflowTemplate,
        slo: float,
        config: SchedulerConfig = SchedulerConfig(),
        timeline: list | None = None,
        on_query_done: Callable[[QueryState], None] | None = None,
    ):
        self.env = simpy.Environment()
        self.slo = slo
        self.on_query_done = on_query_done
        instances = [(i.name, i.profile) for i in cluster.instances]
        self.scheduler = Scheduler(policy, instances, template, cluster.model, config)
        self.engines = [
            Engine(self.env, i, inst.profile, self.scheduler, self._call_finished, self._call_failed, timeline)
            for i, inst in enumerate(cluster.instances)
        ]
        self.names = [inst.name for inst in cluster.instances]
        self.gpus = [inst.gpu for inst in cluster.instances]
        self.query_of: dict[QueryState, Query] = {}  # in order of arrival
        self.tasks: list[CallTask] = []

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
            slo = query.slo if query.slo is not None else self.slo
            state = self.scheduler.query_arrived(query.id, slo, env.now)
            self.query_of[state] = query
            self._start_stage(state, query, 0)

    def _start_stage(self, state: QueryState, query: Query, index: int) -> None:
        tasks = self.scheduler.stage_ready(state, query.stages[index].calls, self.env.now)
        self.tasks.extend(tasks)
        engines = self.engines
        for task in tasks:
            engines[task.instance].notify()

    def _call_finished(self, task: CallTask) -> None:
        if not self.scheduler.call_finished(task, self.env.now):
            return
        state = task.query
        query = self.query_of[state]
        if state.stage + 1 < len(query.stages):
            self._start_stage(state, query, state.stage + 1)
            return
        state.finish = self.env.now
        if self.on_query_done is not None:
            self.on_query_done(state)

    def _call_failed(self, task: CallTask) -> None:
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
                kv_capacity_blocks=e.capacity,
            )
            for e in self.engines
        )
        return RunRecords(
            policy=self.scheduler.policy.name,
            queries=tuple(query_record(state, query) for state, query in self.query_of.items()),
            calls=tuple(call_record(t, names[t.instance]) for t in self.tasks),
            instances=instances,
            makespan=self.env.now,
        )
