"""The scheduler core both runtimes drive: workflow progress, dispatch, local queues.

It never reads a clock (time comes in as `now`) and never looks at a call's true output
length or a query's future stages: it sees estimates only.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from hexsim.profiles.latency import Profile
from hexsim.scheduler.estimates import StepMeans
from hexsim.scheduler.protocols import LocalQueue
from hexsim.scheduler.registry import Policy
from hexsim.scheduler.task import CallTask, QueryState
from hexsim.workload.model import Query


@dataclass(eq=False)
class InstanceState:
    """The scheduler's bookkeeping for one instance; dispatchers read it as an InstanceView."""

    index: int
    name: str
    profile: Profile
    outstanding: int = 0
    queued_work: float = 0.0

    @property
    def model(self) -> str:
        return self.profile.model

    def est_compute(self, task: CallTask) -> float:
        return self.profile.standalone_time(task.call.input_tokens, task.est_output)


class Scheduler:
    def __init__(self, policy: Policy, instances: Sequence[tuple[str, Profile]], estimates: StepMeans, model: str):
        self.policy = policy
        self.model = model
        self.estimates = estimates
        self.instances = [InstanceState(i, name, profile) for i, (name, profile) in enumerate(instances)]
        self.queues: list[LocalQueue] = [policy.queue() for _ in self.instances]
        self._dispatcher = policy.dispatcher()
        self._budget = policy.budget()
        self._candidates: dict[str, list[InstanceState]] = {}
        for inst in self.instances:
            self._candidates.setdefault(inst.model, []).append(inst)

    def query_arrived(self, query: Query, slo: float, now: float) -> tuple[QueryState, list[CallTask]]:
        """Register a new query; returns its state and the dispatched calls of its first stage."""
        state = QueryState(query=query, arrival=now, slo=query.slo if query.slo is not None else slo)
        return state, self._start_stage(state, 0, now)

    def call_finished(self, task: CallTask, now: float) -> list[CallTask]:
        """Account for a finished call; returns the dispatched calls of the next stage, if it starts."""
        self._release(task)
        state = task.query
        state.pending -= 1
        if state.pending or state.failed:
            return []
        if state.stage + 1 < len(state.query.stages):
            return self._start_stage(state, state.stage + 1, now)
        state.finish = now
        return []

    def call_failed(self, task: CallTask, now: float) -> None:
        """A call the instance cannot run (it can never fit): its query will not finish."""
        self._release(task)
        task.query.failed = True
        task.query.pending -= 1

    def peek(self, instance: int) -> CallTask | None:
        return self.queues[instance].peek()

    def pop(self, instance: int) -> CallTask:
        return self.queues[instance].pop()

    def requeue(self, task: CallTask) -> None:
        task.preemptions += 1
        self.queues[task.instance].requeue(task)

    def waiting(self, instance: int) -> int:
        return len(self.queues[instance])

    def _start_stage(self, state: QueryState, stage_index: int, now: float) -> list[CallTask]:
        state.stage = stage_index
        calls = state.query.stages[stage_index].calls
        state.pending = len(calls)
        model = self.model
        tasks = [
            CallTask(state, stage_index, i, call, model, self.estimates.output(call.step), now)
            for i, call in enumerate(calls)
        ]
        deadline = self._budget.stage_deadline(state, tasks, now)
        candidates = self._candidates[model]
        for task in tasks:
            task.deadline = deadline
            inst = self._dispatcher.choose(task, candidates, now)
            task.instance = inst.index
            task.t_comp = inst.est_compute(task)
            inst.outstanding += 1
            inst.queued_work += task.t_comp
            self.queues[inst.index].push(task)
        return tasks

    def _release(self, task: CallTask) -> None:
        inst = self.instances[task.instance]
        inst.outstanding -= 1
        inst.queued_work = inst.queued_work - task.t_comp if inst.outstanding else 0.0
