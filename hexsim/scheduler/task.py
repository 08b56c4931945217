"""Runtime state of queries and calls as the scheduler core sees them."""

from dataclasses import dataclass, field

from hexsim.workload.model import Call


@dataclass(slots=True, eq=False)
class QueryState:
    """A query in flight, as far as it has gone: its past and current stages, never its future."""

    id: str
    arrival: float
    slo: float
    positions: list[tuple[str, int]] = field(default_factory=list)
    stages_of_step: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    finish: float | None = None
    failed: bool = False

    @property
    def deadline(self) -> float:
        return self.arrival + self.slo

    @property
    def stage(self) -> int:
        """Index of the current stage (-1 before the first)."""
        return len(self.positions) - 1


@dataclass(slots=True, eq=False)
class CallTask:
    """One call of a query, from dispatch to completion.

    The scheduler fills the first group (estimates, deadline, instance); the runtime fills
    the timestamps. `engine_state` is the runtime's own per-call state (KV progress in the
    simulator, the HTTP stream live) and survives preemption.
    """

    query: QueryState
    stage: int
    index: int
    call: Call
    model: str
    est_output: float
    ready: float
    deadline: float = float("inf")
    instance: int = -1
    t_comp: float = 0.0
    admitted: float | None = None
    first_token: float | None = None
    finished: float | None = None
    preemptions: int = 0
    engine_state: object = field(default=None, repr=False)
