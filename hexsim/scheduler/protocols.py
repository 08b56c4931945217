"""The three parts of a policy, as protocols: dispatcher, queue order, budget rule."""

from collections.abc import Sequence
from typing import Protocol

from hexsim.profiles.latency import Profile
from hexsim.scheduler.cached_prefixes import CachedPrefixes
from hexsim.scheduler.state import QueryState, ScheduledCall


class InstanceView(Protocol):
    """Read-only view of one instance, as the dispatcher may see it."""

    index: int
    name: str
    profile: Profile  # instances of one type share it

    @property
    def model(self) -> str: ...

    @property
    def outstanding(self) -> int:
        """Calls dispatched to the instance and not yet finished (held, waiting or running)."""

    @property
    def queued_work(self) -> float:
        """Estimated seconds of compute of everything dispatched to the instance and not yet finished."""

    @property
    def running(self) -> int:
        """Calls whose first token came back and that have not finished."""

    @property
    def kv_tokens(self) -> float:
        """Estimated KV-cache tokens held by the calls running on the instance (first token back, not
        finished): their prompts and estimated outputs, prefix segments they share counted once."""

    @property
    def prefixes(self) -> CachedPrefixes:
        """What the core believes the instance's prefix cache holds, from the calls sent there."""

    def est_compute(self, call: ScheduledCall) -> float:
        """Estimated standalone compute time of `call` on this instance (estimated output)."""


class Dispatcher(Protocol):
    """Global dispatch: pick the instance for a call among those serving its model that can hold it."""

    def choose(self, call: ScheduledCall, candidates: Sequence[InstanceView]) -> InstanceView: ...


class QueueOrder(Protocol):
    """The order in which an instance takes its calls: lowest key first, ties by dispatch order.

    With `engine_priority` the key also reaches the engine, as vLLM's request `priority`
    (engines run with `--scheduling-policy priority`); without it every call is sent with
    priority 0 to an engine that serves first come, first served.
    """

    engine_priority: bool

    def key(self, call: ScheduledCall) -> float: ...


class BudgetRule(Protocol):
    """Per-stage deadlines."""

    def stage_deadline(self, query: QueryState, stage: Sequence[ScheduledCall], now: float) -> float: ...
