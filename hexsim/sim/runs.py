"""What the simulator measures of each query and call, and the records it makes of them."""

from dataclasses import dataclass

from hexsim.metrics.records import CallRecord, QueryRecord
from hexsim.scheduler.events import CallId
from hexsim.workload.model import Call, Query


@dataclass(slots=True, eq=False)
class QueryRun:
    query: Query
    arrival: float
    slo: float
    stage: int = 0
    pending: int = 0
    failed: bool = False
    finished: float | None = None

    def record(self) -> QueryRecord:
        query = self.query
        return QueryRecord(query.id, self.arrival, self.slo, self.finished, query.n_calls, query.workflow)


@dataclass(slots=True, eq=False)
class CallRun:
    id: CallId
    query: QueryRun
    call: Call
    ready: float
    instance: int | None = None
    admitted: float | None = None
    first_token: float | None = None
    finished: float | None = None
    preemptions: int = 0

    def record(self, names: list[str]) -> CallRecord:
        query_id, stage, index = self.id
        call = self.call
        instance = None if self.instance is None else names[self.instance]
        return CallRecord(
            query_id,
            stage,
            index,
            call.step,
            instance,
            call.input_tokens,
            call.output_tokens,
            self.ready,
            self.admitted,
            self.first_token,
            self.finished,
            self.preemptions,
        )
