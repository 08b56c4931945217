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
"""

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from hexsim.cluster import ClusterSpec
from hexsim.errors import ParameterError
from hexsim.live.adapter import GatewayAdapter
from hexsim.live.call_body import CallBody
from hexsim.live.engines import SCRAPE_ERRORS, Engine, Timeouts
from hexsim.live.headers import Workflow
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.events import (
    Admit,
    CallFailed,
    CallFinished,
    CallId,
    CallSpec,
    CallStarted,
    InstanceLoad,
    InstanceRoom,
    QueryArrived,
    QueryFinished,
    StageReady,
)
from hexsim.scheduler.log import DecisionLog
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.template import WorkflowTemplate


class GatewayError(Exception):
    """A call the gateway refuses: an HTTP status and a message for OpenAI's error shape."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class GatewaySettings:
    slo: float  # model seconds: the SLO of a query that does not give one
    time_scale: float = 1.0
    scrape_interval: float = 0.25  # wall seconds between two scrapes of an engine's /metrics
    stale_after: float = 2.0  # wall seconds without good metrics before an engine counts as saturated
    idle_timeout: float = 600.0  # wall seconds after which a query with nothing in flight is closed
    timeouts: Timeouts = Timeouts()


@dataclass(eq=False)
class OpenQuery:
    id: str
    adapter: GatewayAdapter
    single: bool  # a call without workflow headers: the query ends with it
    stage: int = -1
    stage_calls: int = 0
    in_flight: int = 0
    seen: float = 0.0  # monotonic time its last call started or ended


@dataclass(eq=False)
class GatewayCall:
    id: CallId
    query: OpenQuery
    body: CallBody
    raw: bytes
    decision: asyncio.Future
    engine: Engine | None = None
    started: bool = False


@dataclass
class Outcomes:
    """Calls by how they ended, for /metrics."""

    counts: Counter = field(default_factory=Counter)

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

        policy = get_policy(config.policy)
        instances = [(inst.name, inst.profile) for inst in cluster.instances]
        models = list(dict.fromkeys(inst.model for inst in cluster.instances))
        self.adapters = {
            model: GatewayAdapter(SchedulerCore(policy, instances, template, model, config), clock, log)
            for model in models
        }
        self.engines = [
            Engine(i, inst.name, inst.url, inst.model, settings.timeouts) for i, inst in enumerate(cluster.instances)
        ]
        self.queries: dict[str, OpenQuery] = {}
        self.outcomes = Outcomes()

    @property
    def models(self) -> list[str]:
        return list(self.adapters)

    # -- calls -----------------------------------------------------------------------------

    def open_call(self, body: CallBody, raw: bytes, workflow: Workflow) -> GatewayCall:
        """Dispatch a call now (GatewayError if it cannot be): no await, so the core's counts stay current."""
        adapter = self.adapters.get(body.model)
        if adapter is None:
            raise GatewayError(404, f"The model `{body.model}` does not exist.")
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
        call = GatewayCall((query.id, stage, index), query, body, raw, asyncio.get_running_loop().create_future())
        adapter.on_decision(call.id, lambda decision: call.decision.done() or call.decision.set_result(decision))
        return call

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
        call.query.adapter.send(CallFinished(call.id))
        self._ended(call, "finished")

    def failed(self, call: GatewayCall, reason: str, outcome: str = "failed") -> None:
        """An admitted call that did not run to its end (the engine refused or lost it, or the client left)."""
        call.query.adapter.send(CallFailed(call.id, reason))
        self._ended(call, outcome)

    def refused(self, call: GatewayCall) -> None:
        """The core failed the call: no instance can ever hold it."""
        self._ended(call, "refused")

    def abandon(self, call: GatewayCall) -> None:
        """The client left before the call was admitted: release it as soon as the core admits it."""
        self._ended(call, "abandoned")

        def release(decision: asyncio.Future) -> None:
            if not decision.cancelled() and isinstance(decision.result(), Admit):
                call.query.adapter.send(CallFailed(call.id, "the client went away"))

        if call.decision.done():
            release(call.decision)
        else:
            call.decision.add_done_callback(release)

    def _ended(self, call: GatewayCall, outcome: str) -> None:
        if call.engine is not None:
            call.engine.ended()
        query = call.query
        query.in_flight -= 1
        query.seen = time.monotonic()
        self.outcomes.add(call.body.model, outcome)
        if query.single:
            self._close(query)

    # -- queries ---------------------------------------------------------------------------

    def _query(self, workflow: Workflow, adapter: GatewayAdapter) -> OpenQuery:
        name = workflow.query
        query = self.queries.get(name) if name is not None else None
        if query is None:
            query = OpenQuery(name or f"call-{uuid.uuid4().hex}", adapter, single=name is None)
            adapter.send(QueryArrived(query.id, workflow.slo or self.settings.slo))
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
                if engine.room and now - engine.scraped > self.settings.stale_after:
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
