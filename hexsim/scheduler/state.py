"""What the scheduler core keeps of queries, calls and instances: its estimates, never measurements."""

from dataclasses import dataclass, field

from hexsim.profiles.latency import Profile
from hexsim.scheduler.cached_prefixes import CachedPrefixes
from hexsim.scheduler.estimates import Estimates
from hexsim.scheduler.events import CallId, CallSpec


@dataclass(slots=True, eq=False, weakref_slot=True)
class QueryState:
    """A query in flight, as far as it has gone: its past and current stages, never its future.

    `attained` is its attained service: the estimated compute (`t_comp`) of its calls that
    finished. A policy may remember a query by it (weakly: the core forgets finished queries).
    """

    id: str
    arrival: float
    slo: float
    positions: list[tuple[str, int]] = field(default_factory=list)
    stages_of_step: dict[str, int] = field(default_factory=dict)
    stage_deadline: float = float("inf")
    stage_calls: int = 0
    attained: float = 0.0

    @property
    def deadline(self) -> float:
        return self.arrival + self.slo

    @property
    def stage(self) -> int:
        """Index of the current stage (-1 before the first)."""
        return len(self.positions) - 1


@dataclass(slots=True, eq=False)
class ScheduledCall:
    """One call as the scheduler sees it: the runtime's description and the scheduler's estimates."""

    id: CallId
    query: QueryState
    spec: CallSpec
    est_output: float
    deadline: float = float("inf")
    instance: int = -1
    t_comp: float = 0.0
    key: float = 0.0
    admitted: bool = False
    started: bool = False

    @property
    def stage(self) -> int:
        return self.id[1]


@dataclass(eq=False)
class InstanceState:
    """The core's bookkeeping of one instance; dispatchers read it as an `InstanceView`."""

    index: int
    name: str
    profile: Profile
    estimates: Estimates
    outstanding: int = 0
    queued_work: float = 0.0
    in_flight: int = 0
    running: int = 0
    room: bool = True
    up: bool = True
    foreign: int = 0  # requests the engine holds that the core did not admit there
    foreign_call: float = 0.0  # estimated seconds of compute of one such request
    held: list[tuple[float, int, ScheduledCall]] = field(default_factory=list)  # a heap: key, dispatch order
    prefixes: CachedPrefixes = field(init=False)
    # Estimated KV-cache tokens held by the calls running here (first token back, not finished):
    # each call's prompt and estimated output, a prefix segment shared by several counted once.
    kv_tokens: float = 0.0
    _kv_shared: dict[int, int] = field(default_factory=dict, init=False, repr=False)  # prefix chain -> running calls

    def __post_init__(self) -> None:
        self.prefixes = CachedPrefixes(self.profile.kv_capacity_tokens_usable)

    @property
    def model(self) -> str:
        return self.profile.model

    def est_compute(self, call: ScheduledCall) -> float:
        return self.estimates(self.profile, call.spec.input_tokens, call.est_output)

    def hold_kv(self, call: ScheduledCall) -> None:
        """`call` started running here: it holds its KV blocks until it finishes."""
        self.kv_tokens += self._kv_change(call, 1)

    def free_kv(self, call: ScheduledCall) -> None:
        """`call`, counted out of `running`, finished or was lost: its blocks no other call shares are free."""
        freed = self._kv_change(call, -1)
        self.kv_tokens = self.kv_tokens - freed if self.running else 0.0

    def _kv_change(self, call: ScheduledCall, step: int) -> float:
        """Tokens `call` adds to (step 1) or takes from (step -1) the KV cache: all of its own, and
        of its prefix segments those no other running call holds (blocks in use count once, as in vLLM)."""
        tokens = call.spec.input_tokens + call.est_output
        shared, chain = self._kv_shared, 0
        for segment in call.spec.prefix:
            chain = hash((chain, segment.key))
            count = shared.get(chain, 0)
            if step > 0:
                shared[chain] = count + 1
                if count:
                    tokens -= segment.tokens  # already held by another running call
            elif count > 1:
                shared[chain] = count - 1
                tokens -= segment.tokens  # still held by another running call
            else:
                shared.pop(chain, None)
        return tokens
