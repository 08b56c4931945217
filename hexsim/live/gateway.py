"""The gateway's runtime: hexsim's scheduler core in front of real engines, on the wall clock.

A request handler reads a call's body and workflow headers and, with no `await` in between,
opens the query if it is new and hands the call to the core (`open_call`): the core's counts
are current before the next request is read, however many arrive at once. The core answers
with a dispatch and, when the instance has room, an admission; the exchange (`exchange.py`)
then sends the call to its engine and reports its first token, its end or its failure back
here, and from here to the core. A query ends when its client says so
(`/v1/queries/{id}/finish`), when it has been idle for `idle_timeout`, or with its only call
(a call without workflow headers).

The core's clock runs `time_scale` times faster than the wall clock, so that with emulated
engines sped up as much, every time the core sees (SLOs, deadlines, estimates) is in model
seconds, as in the simulator.

Faults: a call whose engine fails before any of its answer reached the client is placed again
(`retry`, at most `retries` times); an engine that fails `trip_after` times in a row (calls or
scrapes) is taken out, and its scrapes keep probing it until it answers. Overload: at most
`max_queued` calls wait to be admitted (more get 429), none are taken while no engine is up
(503), and a call that waits `place_timeout` gets 503: each with Retry-After.
"""

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from prometheus_client import Histogram

from hexsim.cluster import ClusterSpec
from hexsim.errors import ParameterError
from hexsim.live.adapter import GatewayAdapter
from hexsim.live.call_body import CallBody
from hexsim.live.engines import SCRAPE_ERRORS, UNREACHABLE, Engine, Timeouts
from hexsim.live.headers import Workflow
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.events import (
    Admit,
    CallFailed,
    CallFinished,
    CallId,
    CallRetry,
    CallSpec,
    CallStarted,
    Fail,
    InstanceLoad,
    InstanceRoom,
    InstanceUp,
    QueryArrived,
    QueryFinished,
    StageReady,
)
from hexsim.scheduler.log import DecisionLog
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.template import WorkflowTemplate

DECISION_BUCKETS = (1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2)


class GatewayError(Exception):
    """A call the gateway refuses: an HTTP status and a message for OpenAI's error shape, and
    for overload, the seconds after which to try again."""

    def __init__(self, status: int, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class GatewaySettings:
    slo: float  # model seconds: the SLO of a query that does not give one
    time_scale: float = 1.0
    scrape_interval: float = 0.25  # wall seconds between two scrapes of an engine's /metrics
    stale_after: float = 2.0  # wall seconds without good metrics before an engine counts as saturated
    idle_timeout: float = 600.0  # wall seconds after which a query with nothing in flight is closed
    timeouts: Timeouts = Timeouts()
    max_queued: int = 1024  # calls waiting to be admitted; beyond, 429
    place_timeout: float = 60.0  # wall seconds a call may wait to be admitted; then 503
    retries: int = 3  # times a call that failed before answering is placed again
    trip_after: int = 3  # failures in a row that take an engine out
    retry_after: int = 1  # seconds, in the Retry-After of a 429 or 503


@dataclass(eq=False)
class OpenQuery:
    id: str
    adapter: GatewayAdapter
    single: bool  # a call without workflow headers: the query ends with it
    arrival: float  # on the core's clock
    slo: float
    stage: int = -1
    stage_calls: int = 0
    in_flight: int = 0
    seen: float = 0.0  # monotonic time its last call started or ended
    ended: float = 0.0  # on the core's clock, when its last call ended
    failed: bool = False  # some call of it did not finish


@dataclass(eq=False)
class GatewayCall:
    id: CallId
    query: OpenQuery
    body: CallBody
    raw: bytes
    decision: asyncio.Future
    opened: float  # monotonic
    step: str
    deadline: float = float("inf")  # its stage's, on the core's clock
    engine: Engine | None = None
    started: bool = False
    waiting: bool = True  # for the core's admission
    retries: int = 0


@dataclass
class Outcomes:
    """Calls by how they ended, stage deadlines missed by step, queries by SLO met: for /metrics."""

    counts: Counter = field(default_factory=Counter)
    deadline_misses: Counter = field(default_factory=Counter)
    queries: Counter = field(default_factory=Counter)  # (model, met) -> queries closed

    def add(self, model: str, outcome: str) -> None:
        self.counts[model, outcome] += 1


class Gateway:
    def __init__(
        self,
        cluster: ClusterSpec,
        config: SchedulerConfig,
        template: WorkflowTemplate,
        settings: GatewaySettings,
        log: DecisionLog | None = None,
    ):
        self.settings = settings
        self.config = config
        start = time.monotonic()
        scale = settings.time_scale

        def clock() -> float:
            return (time.monotonic() - start) * scale

        self.decision_seconds = Histogram(
            "hexsim_scheduling_decision_seconds",
            "Wall time the scheduler core took to handle one event and decide.",
            buckets=DECISION_BUCKETS,
            registry=None,
        )

        policy = get_policy(config.policy)
        instances = [(inst.name, inst.profile) for inst in cluster.instances]
        models = list(dict.fromkeys(inst.model for inst in cluster.instances))
        self.adapters = {
            model: GatewayAdapter(
                SchedulerCore(policy, instances, template, model, config), clock, log, self.decision_seconds.observe
            )
            for model in models
        }
        self.engines = [
            Engine(i, inst.name, inst.url, inst.model, settings.timeouts) for i, inst in enumerate(cluster.instances)
        ]
        self.queries: dict[str, OpenQuery] = {}
        self.outcomes = Outcomes()
        self.waiting = 0  # calls waiting for the core's admission

    @property
    def models(self) -> list[str]:
        return list(self.adapters)

    # -- calls -----------------------------------------------------------------------------

    def open_call(self, body: CallBody, raw: bytes, workflow: Workflow) -> GatewayCall:
        """Dispatch a call now (GatewayError if it cannot be): no await, so the core's counts stay current."""
        adapter = self.adapters.get(body.model)
        if adapter is None:
            raise GatewayError(404, f"The model `{body.model}` does not exist.")
        self._check_capacity(body.model)
        query = self._query(workflow, adapter)
        stage = workflow.stage
        index = query.stage_calls if stage == query.stage else 0
        # No max_tokens: vLLM shortens one that does not fit beside the prompt.
        spec = CallSpec(workflow.step, body.input_tokens, prefix=body.prefix)
        try:
            adapter.send(StageReady(query.id, stage, (spec,), index))
        except ParameterError as error:
            if query.single:
                self._close(query)
            raise GatewayError(400, f"X-Hexsim-Stage: {error.message}") from None
        query.stage, query.stage_calls = stage, index + 1
        query.in_flight += 1
        query.seen = time.monotonic()
        loop = asyncio.get_running_loop()
        call = GatewayCall((query.id, stage, index), query, body, raw, loop.create_future(), query.seen, workflow.step)
        if adapter.dispatches:
            call.deadline = adapter.dispatches[0].deadline
        self.waiting += 1
        self._await_decision(call)
        return call

    def _check_capacity(self, model: str) -> None:
        after = self.settings.retry_after
        if not any(e.up for e in self.engines if e.model == model):
            raise GatewayError(503, f"no engine serving {model} is up", after)
        if self.waiting >= self.settings.max_queued:
            raise GatewayError(429, f"{self.waiting} calls are waiting for an engine, the gateway's limit", after)

    def _await_decision(self, call: GatewayCall) -> None:
        def decided(decision: Admit | Fail) -> None:
            self._unwait(call)
            if not call.decision.done():
                call.decision.set_result(decision)

        call.query.adapter.on_decision(call.id, decided)

    def _unwait(self, call: GatewayCall) -> None:
        if call.waiting:
            call.waiting = False
            self.waiting -= 1

    def content(self, call: GatewayCall, admit: Admit) -> bytes:
        """The body to send: as it came, with vLLM's `priority` when the policy orders the engine's queue."""
        if not call.query.adapter.seam.core.engine_priority:
            return call.raw
        # The body is a JSON object; a key given twice takes its last value, so this one wins.
        return b'%s, "priority": %d}' % (call.raw.rstrip()[:-1], admit.priority)

    def sending(self, call: GatewayCall, admit: Admit) -> Engine:
        engine = call.engine = self.engines[admit.instance]
        engine.sent()
        return engine

    def started(self, call: GatewayCall) -> None:
        if not call.started:
            call.started = True
            call.query.adapter.send(CallStarted(call.id))

    def finished(self, call: GatewayCall) -> None:
        self.started(call)
        call.engine.answered()
        call.query.adapter.send(CallFinished(call.id))
        if call.query.adapter.seam.clock() > call.deadline:
            self.outcomes.deadline_misses[call.body.model, call.step] += 1
        self._ended(call, "finished")

    def failed(self, call: GatewayCall, reason: str, outcome: str = "failed") -> None:
        """An admitted call that did not run to its end (the engine refused or lost it, or the client left)."""
        call.query.failed = True
        call.query.adapter.send(CallFailed(call.id, reason))
        self._ended(call, outcome)

    def retry(self, call: GatewayCall, reason: str) -> bool:
        """The call's engine failed before any of its answer reached the client: place the call
        again (True), unless it has been placed `retries` times already (False: the caller fails it)."""
        engine = call.engine
        self.engine_failed(engine, reason)
        if call.retries >= self.settings.retries:
            return False
        call.retries += 1
        engine.retried += 1
        engine.ended()
        call.engine = None
        call.decision = asyncio.get_running_loop().create_future()
        call.waiting = True
        self.waiting += 1
        self._await_decision(call)
        call.query.adapter.send(CallRetry(call.id, reason))
        return True

    def refused(self, call: GatewayCall) -> None:
        """The core failed the call: no instance can ever hold it."""
        call.query.failed = True
        self._ended(call, "refused")

    def give_up(self, call: GatewayCall, outcome: str) -> None:
        """Stop waiting for the core to admit the call (its client left, or it waited too long)."""
        call.query.failed = True
        self._ended(call, outcome)
        adapter = call.query.adapter
        if call.decision.done():
            if isinstance(call.decision.result(), Admit):
                adapter.send(CallFailed(call.id, outcome))
            return
        self._unwait(call)
        adapter.forget(call.id)
        call.decision.cancel()
        adapter.send(CallFailed(call.id, outcome))

    def _ended(self, call: GatewayCall, outcome: str) -> None:
        if call.engine is not None:
            call.engine.ended()
        query = call.query
        query.in_flight -= 1
        query.seen = time.monotonic()
        query.ended = query.adapter.seam.clock()
        self.outcomes.add(call.body.model, outcome)
        if query.single:
            self._close(query)

    # -- queries ---------------------------------------------------------------------------

    def _query(self, workflow: Workflow, adapter: GatewayAdapter) -> OpenQuery:
        name = workflow.query
        query = self.queries.get(name) if name is not None else None
        if query is None:
            slo = workflow.slo or self.settings.slo
            query = OpenQuery(name or f"call-{uuid.uuid4().hex}", adapter, name is None, adapter.seam.clock(), slo)
            adapter.send(QueryArrived(query.id, slo))
            self.queries[query.id] = query
        elif query.adapter is not adapter:
            raise GatewayError(400, f"X-Hexsim-Query: query {name!r} runs on another model")
        return query

    def finish_query(self, name: str) -> bool:
        """Close a query its client is done with; False if no such query is open."""
        query = self.queries.get(name)
        if query is None or query.single:
            return False
        self._close(query)
        return True

    def _close(self, query: OpenQuery) -> None:
        del self.queries[query.id]
        query.adapter.send(QueryFinished(query.id))
        if query.stage >= 0:
            met = not query.failed and query.ended - query.arrival <= query.slo
            self.outcomes.queries[query.adapter.seam.core.model, met] += 1

    def close_idle(self, now: float) -> int:
        """Close queries idle for `idle_timeout` with nothing in flight; returns how many."""
        idle = [q for q in self.queries.values() if q.in_flight == 0 and now - q.seen >= self.settings.idle_timeout]
        for query in idle:
            self._close(query)
        return len(idle)

    # -- engines ---------------------------------------------------------------------------

    async def scrape(self) -> None:
        """Scrape every engine's /metrics once, and tell the core what changed."""
        results = await asyncio.gather(*(e.scrape() for e in self.engines), return_exceptions=True)
        now = time.monotonic()
        for engine, result in zip(self.engines, results, strict=True):
            adapter = self.adapters[engine.model]
            if isinstance(result, SCRAPE_ERRORS):
                engine.error = _scrape_error(result)
                if isinstance(result, UNREACHABLE):  # bad metrics from a live engine only make them stale
                    self.engine_failed(engine, engine.error)
                if engine.room and (now - engine.scraped > self.settings.stale_after or not engine.up):
                    engine.room = False
                    adapter.send(InstanceRoom(engine.index, False))
                continue
            if isinstance(result, BaseException):
                raise result
            engine.load, engine.scraped, engine.error = result, now, None
            adapter.send(InstanceLoad(engine.index, engine.foreign(result)))
            if not engine.room:
                engine.room = True
                adapter.send(InstanceRoom(engine.index, True))
            self.engine_answered(engine)

    def engine_failed(self, engine: Engine, reason: str) -> None:
        """A call or a scrape of `engine` failed: after `trip_after` in a row it is taken out."""
        engine.failures += 1
        engine.error = reason
        if engine.up and engine.failures >= self.settings.trip_after:
            engine.up = False
            self.adapters[engine.model].send(InstanceUp(engine.index, False))

    def engine_answered(self, engine: Engine) -> None:
        engine.failures = 0
        if not engine.up:
            engine.up = True
            self.adapters[engine.model].send(InstanceUp(engine.index, True))

    async def run_background(self) -> None:
        """Scrape the engines every `scrape_interval` and close idle queries, until cancelled."""
        interval = self.settings.scrape_interval
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            await self.scrape()
            self.close_idle(time.monotonic())
            next_tick = max(next_tick + interval, loop.time())
            await asyncio.sleep(next_tick - loop.time())

    def open(self) -> None:
        """Open the engines' connection pools; until its first scrape every engine counts as saturated."""
        for engine in self.engines:
            engine.open()
            self.adapters[engine.model].send(InstanceRoom(engine.index, False))

    async def close(self) -> None:
        await asyncio.gather(*(engine.close() for engine in self.engines))


def _scrape_error(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0]
