"""Per-call and per-query records: what every run (simulated or live) produces."""

from dataclasses import dataclass

from hexsim.scheduler.task import CallTask, QueryState
from hexsim.workload.model import Query


@dataclass(frozen=True, slots=True)
class CallRecord:
    query_id: str
    stage: int
    index: int
    step: str
    instance: str
    input_tokens: int
    output_tokens: int
    ready: float
    admitted: float | None
    first_token: float | None
    finished: float | None
    preemptions: int

    @property
    def queue_wait(self) -> float | None:
        return None if self.admitted is None else self.admitted - self.ready


@dataclass(frozen=True, slots=True)
class QueryRecord:
    query_id: str
    arrival: float
    slo: float
    finished: float | None
    n_calls: int

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


@dataclass(frozen=True)
class RunRecords:
    policy: str
    queries: tuple[QueryRecord, ...]
    calls: tuple[CallRecord, ...]
    instances: tuple[InstanceRecord, ...]
    makespan: float


def call_record(task: CallTask, instance_name: str) -> CallRecord:
    return CallRecord(
        query_id=task.query.id,
        stage=task.stage,
        index=task.index,
        step=task.call.step,
        instance=instance_name,
        input_tokens=task.call.input_tokens,
        output_tokens=task.call.output_tokens,
        ready=task.ready,
        admitted=task.admitted,
        first_token=task.first_token,
        finished=task.finished,
        preemptions=task.preemptions,
    )


def query_record(state: QueryState, query: Query) -> QueryRecord:
    return QueryRecord(
        query_id=state.id,
        arrival=state.arrival,
        slo=state.slo,
        finished=state.finish,
        n_calls=query.n_calls,
    )
