"""The scheduler core both runtimes drive: stage deadlines, dispatch, local queues.

It never reads a clock (time comes in as `now`), and it sees a query only as far as it has
gone: the runtime hands it each stage's calls when the stage becomes ready. Output lengths
and later stages come from the workflow template, never from the trace.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from hexsim.profiles.latency import Profile
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.protocols import LocalQueue
from hexsim.scheduler.registry import Policy, PolicyContext
from hexsim.scheduler.task import CallTask, QueryState
from hexsim.scheduler.template import WorkflowTemplate
from hexsim.workload.model import Call


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
    def __init__(
        self,
        policy: Policy,
        instances: Sequence[tuple[str, Profile]],
        template: WorkflowTemplate,
        model: str,
        config: SchedulerConfig = SchedulerConfig(),
    ):
        self.policy = policy
        self.config = config
        self.model = model
        self.template = template
        self.instances = [InstanceState(i, name, profile) for i, (name, profile) in enumerate(instances)]
        self._candidates: dict[str, list[InstanceState]] = defaultdict(list)
        for inst in self.instances:
            self._candidates[inst.model].append(inst)
        types = list(dict.fromkeys(inst.profile for inst in self._candidates[model]))
        context = PolicyContext(config, template, types)
        self.queues: list[LocalQueue] = [policy.queue() for _ in self.instances]
        self._dispatcher = policy.dispatcher(context)
        self._budget = policy.budget(context)

    def query_arrived(self, query_id: str, slo: float, now: float) -> QueryState:
        return QueryState(id=query_id, arrival=now, slo=slo)

    def stage_ready(self, state: QueryState, calls: Sequence[Call], now: float) -> list[CallTask]:
        """Deadline and dispatch the calls of the query's next stage; returns them, queued."""
        step = calls[0].step
        occurrence = state.stages_of_step[step] = state.stages_of_step.get(step, 0) + 1
        state.positions.append((step, occurrence))
        state.pending = len(calls)
        stage, model, template = state.stage, self.model, self.template
        tasks = [
            CallTask(state, stage, i, call, model, template.output(call.step), now) for i, call in enumerate(calls)
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

    def call_finished(self, task: CallTask, now: float) -> bool:
        """Account for a finished call; True if it completes its stage."""
        self._release(task)
        state = task.query
        state.pending -= 1
        return state.pending == 0 and not state.failed

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

    def _release(self, task: CallTask) -> None:
        inst = self.instances[task.instance]
        inst.outstanding -= 1
        inst.queued_work = inst.queued_work - task.t_comp if inst.outstanding else 0.0
