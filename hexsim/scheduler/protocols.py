"""The three parts of a policy, as protocols: dispatcher, local queue discipline, budget rule."""

from collections.abc import Sequence
from typing import Protocol

from hexsim.scheduler.task import CallTask, QueryState


class InstanceView(Protocol):
    """Read-only view of one instance, as the dispatcher may see it."""

    index: int
    name: str
    model: str

    @property
    def outstanding(self) -> int:
        """Calls dispatched to the instance and not yet finished (queued or running)."""

    @property
    def queued_work(self) -> float:
        """Estimated seconds of compute of everything queued or running on the instance."""

    def est_compute(self, task: CallTask) -> float:
        """Estimated standalone compute time of `task` on this instance (estimated output)."""


class Dispatcher(Protocol):
    """Global dispatch: pick the instance for a call among those serving its model."""

    def choose(self, task: CallTask, candidates: Sequence[InstanceView], now: float) -> InstanceView: ...


class LocalQueue(Protocol):
    """The waiting calls of one instance, in the order the instance admits them."""

    def push(self, task: CallTask) -> None: ...

    def requeue(self, task: CallTask) -> None:
        """Put back a preempted call: it goes before calls that never ran, as in vLLM."""

    def peek(self) -> CallTask | None: ...

    def pop(self) -> CallTask: ...

    def __len__(self) -> int: ...


class BudgetRule(Protocol):
    """Per-stage deadlines."""

    def stage_deadline(self, query: QueryState, stage: Sequence[CallTask], now: float) -> float: ...
