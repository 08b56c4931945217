"""The workload vocabulary: a query is a sequence of stages, a stage a set of parallel calls."""

from collections.abc import Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of prompt tokens that other calls may share: the same `key` is the same tokens."""

    key: str
    tokens: int


def block_segments(items: Sequence[object], block: int, block_tokens: int | None = None) -> tuple[Segment, ...]:
    """A prompt's full blocks of `block` items (tokens, or characters of text) as segments of
    `block_tokens` tokens (default `block`) keyed by their content. Chained one after the other,
    as a prefix cache chains each block to the one before, two prompts share segments exactly as
    far as they begin alike, block by block (as vLLM's block hashes do)."""
    full = len(items) - len(items) % block
    size = block if block_tokens is None else block_tokens
    pack = (lambda chunk: chunk) if isinstance(items, str) else tuple
    return tuple(Segment(str(hash(pack(items[i : i + block]))), size) for i in range(0, full, block))


@dataclass(frozen=True, slots=True)
class Call:
    """One LLM inference request: step name, prompt tokens and generated tokens.

    `prefix` lists the shared segments the prompt starts with, in order; the rest of its
    `input_tokens` are the call's own. Two calls' prompts agree exactly as far as their
    prefixes agree, segment by segment.
    """

    step: str
    input_tokens: int
    output_tokens: int
    prefix: tuple[Segment, ...] = ()

    @property
    def shared_tokens(self) -> int:
        return sum(segment.tokens for segment in self.prefix)


@dataclass(frozen=True, slots=True)
class Stage:
    """Calls of one query that run in parallel; the next stage starts when all have finished."""

    calls: tuple[Call, ...]


@dataclass(frozen=True, slots=True)
class Query:
    """One end-to-end Text-to-SQL request.

    `arrival` and `slo` (seconds) are optional: traces without them get arrivals from an
    arrival process and the SLO from the run's SLO scale. `workflow` names the workflow the
    query runs (e.g. CHESS or MAC-SQL) in a trace that mixes several (`hexsim trace mix`);
    None in a trace of one.
    """

    id: str
    stages: tuple[Stage, ...]
    arrival: float | None = None
    slo: float | None = None
    workflow: str | None = None

    @property
    def calls(self) -> tuple[Call, ...]:
        return tuple(call for stage in self.stages for call in stage.calls)

    @property
    def n_calls(self) -> int:
        return sum(len(stage.calls) for stage in self.stages)

    def with_arrival(self, arrival: float) -> "Query":
        return replace(self, arrival=arrival)


def parallel_group(step: str) -> str | None:
    """The parallel group of a CHESS step: SQL candidates (any generator) or evaluations; else None."""
    if step.startswith("generate_candidate"):
        return "generate_candidate"
    return "evaluate" if step == "evaluate" else None


def group_chess_stages(calls: Sequence[Call]) -> tuple[Stage, ...]:
    """Group a query's calls (in execution order) into CHESS stages.

    Consecutive calls of one parallel group (`generate_candidate*`, or `evaluate`) form one
    stage; every other call is its own.
    """
    stages: list[list[Call]] = []
    for call in calls:
        group = parallel_group(call.step)
        if stages and group is not None and parallel_group(stages[-1][-1].step) == group:
            stages[-1].append(call)
        else:
            stages.append([call])
    return tuple(Stage(tuple(stage)) for stage in stages)
