"""Events in and decisions out: the whole interface between the scheduler core and a runtime.

A runtime (the simulator, or `hexsim.live.adapter` in front of real engines) tells the core what happened
and carries out the decisions the core answers with, as plain data, much like vLLM v1's
`schedule()` / `update_from_output()`. A call is named by `CallId`: its query, the index of
its stage in the query, and its index in the stage.
"""

from dataclasses import dataclass

from hexsim.workload.model import Segment

CallId = tuple[str, int, int]


@dataclass(slots=True)
class CallSpec:
    """What the runtime knows of a call before it runs.

    `max_tokens` is the request's limit on generated tokens, when there is one: the core uses
    it only to tell whether the call can ever fit an instance's KV cache, never as an estimate.
    `known_output` is the call's output length when the runtime is told it, used in place of
    the template's estimate for its step: only the simulator's upper bound of a policy that
    knows the true output lengths sets it (`simulate(..., true_outputs=True)`).
    """

    step: str
    input_tokens: int
    max_tokens: int | None = None
    prefix: tuple[Segment, ...] = ()  # the shared segments its prompt starts with
    known_output: int | None = None


# -- events: what happened (plain data: built by a runtime, never changed) -------------------


@dataclass(slots=True)
class QueryArrived:
    query: str
    slo: float


@dataclass(slots=True)
class StageReady:
    """The calls of a query's next stage (or more calls of its current stage) can run.

    `first` is the index in the stage of the first of `calls`: 0, unless calls of the stage
    came in earlier events (a gateway learns of a stage's calls one request at a time).
    """

    query: str
    stage: int
    calls: tuple[CallSpec, ...]
    first: int = 0


@dataclass(slots=True)
class CallStarted:
    """An admitted call's first token came back: its engine is running it (what a gateway can see)."""

    call: CallId


@dataclass(slots=True)
class CallFinished:
    call: CallId


@dataclass(slots=True)
class CallFailed:
    """The runtime could not run an admitted call (the engine refused or lost it), or gives up on
    one the core still holds (its client left, it waited too long to be placed)."""

    call: CallId
    reason: str


@dataclass(slots=True)
class CallRetry:
    """An admitted call failed before any of its answer reached the client: the core places it
    again, on another instance while one can take it."""

    call: CallId
    reason: str


@dataclass(slots=True)
class InstanceRoom:
    """The instance can take more calls now (`room`), or cannot until told again."""

    instance: int
    room: bool


@dataclass(slots=True)
class InstanceUp:
    """The instance's engine answers (`up`), or is taken out until told again (it keeps failing):
    a down instance gets no calls while another is up, and the calls it holds are placed again."""

    instance: int
    up: bool


@dataclass(slots=True)
class InstanceLoad:
    """The instance's engine holds `foreign` requests the runtime did not send it (another client's,
    say), by its own count (vLLM's /metrics); the core counts them as load when it dispatches."""

    instance: int
    foreign: int


@dataclass(slots=True)
class QueryFinished:
    """The client is done with the query: the core forgets it."""

    query: str


Event = (
    QueryArrived
    | StageReady
    | CallStarted
    | CallFinished
    | CallFailed
    | CallRetry
    | InstanceRoom
    | InstanceUp
    | InstanceLoad
    | QueryFinished
)


# -- decisions: what to do -------------------------------------------------------------------


@dataclass(slots=True)
class Dispatch:
    """The call belongs to `instance`; `deadline` is its stage's, `key` its place in the instance's queue."""

    call: CallId
    instance: int
    deadline: float
    key: float


@dataclass(slots=True)
class Admit:
    """Send the call to its instance's engine now, with vLLM's `priority` (lower runs first)."""

    call: CallId
    instance: int
    priority: int


@dataclass(slots=True)
class Fail:
    """The call can never run: no instance serving its model can hold it."""

    call: CallId
    reason: str


Decision = Dispatch | Admit | Fail
