"""Per-call and per-query records: what every run (simulated or live) produces.

A run makes one record per call and per query, so these two are named tuples: immutable like
the frozen dataclasses used elsewhere, and several times cheaper to build.
"""

from dataclasses import dataclass
from typing import NamedTuple


class CallRecord(NamedTuple):
    query_id: str
    stage: int
    index: int
    step: str
    instance: str | None  # None: no instance could ever hold the call
    input_tokens: int
    output_tokens: int
    ready: float
    admitted: float | None
    first_token: float | None
    finished: float | None
    preemptions: int | None  # None: not observed (a client cannot see an engine preempt a call)

    @property
    def queue_wait(self) -> float | None:
        return None if self.admitted is None else self.admitted - self.ready


class QueryRecord(NamedTuple):
    query_id: str
    arrival: float
    slo: float
    finished: float | None
    n_calls: int
    workflow: str | None = None  # the query's workflow in a mixed trace (`Query.workflow`)

    @property
    def latency(self) -> float:
        """End-to-end latency; infinite for a query that did not finish."""
        return float("inf") if self.finished is None else self.finished - self.arrival


@dataclass(frozen=True)
class InstanceRecord:
    name: str
    gpu: str
    busy_time: float
    iterations: int
    segments: int
    peak_kv_blocks: int
    kv_capacity_blocks: int
    prefix_queries: int = 0  # prompt tokens of new requests looked up in the prefix cache (vLLM's counter)
    prefix_hits: int = 0  # of those, tokens found cached and not computed


@dataclass(frozen=True)
class RunRecords:
    policy: str
    queries: tuple[QueryRecord, ...]
    calls: tuple[CallRecord, ...]
    instances: tuple[InstanceRecord, ...]
    makespan: float
