"""Replay a workload through the scheduler core on a simulated cluster of engines."""

from collections.abc import Callable, Sequence

import simpy

from hexsim.cluster import ClusterSpec
from hexsim.engine.request import Request
from hexsim.errors import ParameterError
from hexsim.metrics.records import InstanceRecord, RunRecords
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.events import (
    Admit,
    CallFinished,
    CallSpec,
    CallStarted,
    Fail,
    QueryArrived,
    QueryFinished,
    StageReady,
)
from hexsim.scheduler.log import DecisionLog
from hexsim.scheduler.registry import Policy
from hexsim.scheduler.seam import Seam
from hexsim.scheduler.template import WorkflowTemplate
from hexsim.sim.engine import SimEngine
from hexsim.sim.runs import CallRun, QueryRun
from hexsim.workload.model import Query


class SimulatedCluster:
    """The SimPy model: an arrival process, one engine per instance, and the scheduler core behind the seam.

    It plays the client's part too: when a stage's calls have all finished it hands the
    query's next stage to the scheduler, which never sees stages before they are ready. A
    call the core fails (it can never fit) leaves its query unfinished. `log`, if given,
    receives every event and decision.
    """

    def __init__(
        self,
        env: simpy.Environment,
        cluster: ClusterSpec,
        policy: Policy,
        template: WorkflowTemplate,
        slo: float,
        config: SchedulerConfig = SchedulerConfig(),
        timeline: list | None = None,
        log: DecisionLog | None = None,
        on_query_done: Callable[[QueryRun], None] | None = None,
        true_outputs: bool = False,
    ):
        self.env = env
        self.true_outputs = true_outputs
        self.slo = slo
        self.on_query_done = on_query_done
        self.names = [inst.name for inst in cluster.instances]
        self.gpus = [inst.gpu for inst in cluster.instances]
        instances = [(inst.name, inst.profile) for inst in cluster.instances]
        self.core = SchedulerCore(policy, instances, template, cluster.model, config)
        carry_out = {Admit: self._admit, Fail: self._fail}
        self.seam = Seam(self.core, lambda: env.now, carry_out, log)
        scheduling = "priority" if self.core.engine_priority else "fcfs"
        self.engines = [
            SimEngine(
                env,
                i,
                inst.profile,
                scheduling,
                self._started,
                self._first_token,
                self._finished,
                timeline,
                prefix_caching=inst.prefix_caching,
            )
            for i, inst in enumerate(cluster.instances)
        ]
        self.queries: list[QueryRun] = []
        self.calls: dict[tuple[str, int, int], CallRun] = {}

    def start(self, queries: Sequence[Query]) -> None:
        """Start the arrival process of `queries` (in order of arrival, each with its arrival time)."""
        ids = set()
        for query in queries:
            if query.id in ids:
                raise ParameterError("queries", f"two queries have the id {query.id!r}")
            ids.add(query.id)
        self.env.process(self._arrivals(queries))

    def records(self) -> RunRecords:
        names = self.names
        instances = tuple(
            InstanceRecord(
                name=names[e.index],
                gpu=self.gpus[e.index],
                busy_time=e.busy_time,
                iterations=e.iterations,
                segments=e.segments,
                peak_kv_blocks=e.planner.peak_blocks,
                kv_capacity_blocks=e.planner.capacity,
                prefix_queries=e.planner.cache.queries if e.planner.cache is not None else 0,
                prefix_hits=e.planner.cache.hits if e.planner.cache is not None else 0,
            )
            for e in self.engines
        )
        return RunRecords(
            policy=self.core.policy.name,
            queries=tuple(run.record() for run in self.queries),
            calls=tuple(run.record(names) for run in self.calls.values()),
            instances=instances,
            makespan=self.env.now,
        )

    # -- the client ------------------------------------------------------------------------

    def _arrivals(self, queries: Sequence[Query]):
        env = self.env
        for query in queries:
            delay = query.arrival - env.now
            if delay > 0:
                yield env.timeout(delay)
            run = QueryRun(query, env.now, query.slo if query.slo is not None else self.slo)
            self.queries.append(run)
            self.seam.send(QueryArrived(query.id, run.slo))
            self._start_stage(run, 0)

    def _start_stage(self, run: QueryRun, index: int) -> None:
        calls = run.query.stages[index].calls
        run.stage = index
        run.pending = len(calls)
        now, qid, runs = self.env.now, run.query.id, self.calls
        for i, call in enumerate(calls):
            runs[qid, index, i] = CallRun((qid, index, i), run, call, now)
        known = self.true_outputs
        specs = tuple(
            [
                CallSpec(c.step, c.input_tokens, c.output_tokens, c.prefix, c.output_tokens if known else None)
                for c in calls
            ]
        )
        self.seam.send(StageReady(qid, index, specs))

    def _call_done(self, run: QueryRun) -> None:
        run.pending -= 1
        if run.pending:
            return
        if not run.failed and run.stage + 1 < len(run.query.stages):
            self._start_stage(run, run.stage + 1)
            return
        if not run.failed:
            run.finished = self.env.now
        self.seam.send(QueryFinished(run.query.id))
        if self.on_query_done is not None:
            self.on_query_done(run)

    # -- decisions -------------------------------------------------------------------------

    def _admit(self, decision: Admit) -> None:
        run = self.calls[decision.call]
        run.instance = decision.instance
        call = run.call
        engine = self.engines[decision.instance]
        engine.submit(run, call.input_tokens, call.output_tokens, decision.priority, call.prefix)

    def _fail(self, decision: Fail) -> None:
        run = self.calls[decision.call]
        run.query.failed = True
        self._call_done(run.query)

    # -- engine reports --------------------------------------------------------------------

    def _started(self, request: Request) -> None:
        request.handle.admitted = self.env.now

    def _first_token(self, request: Request) -> None:
        run: CallRun = request.handle
        run.first_token = self.env.now
        self.seam.send(CallStarted(run.id))

    def _finished(self, request: Request) -> None:
        run: CallRun = request.handle
        run.finished = self.env.now
        run.preemptions = request.preemptions
        self.seam.send(CallFinished(run.id))
        self._call_done(run.query)
