"""Replay a workflow trace against live engines, and record it as the simulator records a run.

`replay()` turns the queries of a trace, with their arrival times (`Experiment.sample`), into
HTTP requests: at a query's arrival, every call of its first stage at once; when all of them
have ended, every call of the next stage; and so on. A call is one streaming
`POST /v1/completions` whose prompt is exactly its input tokens long (token ids, `prompts.py`)
and whose `max_tokens` is its output tokens, with `ignore_eos`: the engine does the work the
trace says. The workflow rides in the `X-Hexsim-*` headers (`headers.py`) for hexsim's
gateway. With one target, every call goes to it and each query that ends is announced with
`POST /v1/queries/{id}/finish` (a plain vLLM answers 404, which is ignored); with several,
calls go round-robin over them in the order they are sent: vLLM's own baseline, no gateway.
`stream_interval` asks the engine for the first and last chunks only: all a replay reads.

The time scale. An emulated engine (`hexsim emulate --time-scale S`) runs S times faster than
real time. A replay with `time_scale` S keeps the workload in step with it: arrival gaps are
divided by S, and every time measured is multiplied back by S, so that records and report are
in model seconds, the simulator's unit, and a replay compares with a simulation number for
number. The SLO sent in `X-Hexsim-SLO` stays in model seconds (a gateway runs its clock at the
same scale); `timeout` is wall time (it guards against a target that hangs). The real world's
overheads (HTTP round trips, the client's own work) are multiplied by S as well: they cost a
call 2-5 ms of wall time on one machine, 0.4-1 model seconds at S = 200, so S must leave them
small beside the engine's iterations (S = 10 made them 0.04 model seconds a call).

What a client observes. Times count from the start of the replay:
- `arrival` is the time the trace schedules the query;
- `ready` is when the stage's calls were sent (for the first stage, never before `arrival`,
  later by any lag of the client);
- `first_token` is when the first chunk carrying a token arrived (the call's queue wait and
  prefill included);
- `finished` is when the stream ended with `data: [DONE]`, its usage having counted exactly
  the call's prompt and output tokens;
- `instance` is the engine that answered: behind hexsim's gateway the instance its
  `x-hexsim-instance` header names, else the target the call went to (host:port).
What it cannot observe: when an engine admitted a call (`admitted` stays empty, and so the
queue waits of the report), whether the engine preempted it (`preemptions` empty), and how
busy each engine was (no instance records: the report has no utilisation).

Failures. A call whose stream hexsim's gateway reports broken off (its engine died mid-answer)
is sent again, up to RESENDS times. A call answered with an HTTP error, a broken or malformed
stream, token counts other than the trace's, or no end within `timeout` fails its query: the
query's later stages are not sent, its calls in flight run to their end, and its record has no
finish time. Failures are counted by target and kind. Every call ends within its timeout, so a replay always ends.
"""

import asyncio
import json
import time
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from hexsim.errors import ParameterError
from hexsim.live.headers import INSTANCE, QUERY, RETRIES, SLO, STAGE, STEP
from hexsim.live.prompts import Prompts
from hexsim.live.replay_targets import CONNECT_TIMEOUT_S, instance_name, reason, shorten
from hexsim.metrics.records import CallRecord, QueryRecord, RunRecords
from hexsim.workload.model import Call, Query

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to its end on uvloop's event loop when uvloop is installed, else on asyncio's."""
    try:
        import uvloop
    except ImportError:
        factory = None
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coroutine)


@dataclass(frozen=True)
class Failure:
    """Calls (or finish notices) that failed at one target in one way: `kind` is an HTTP status,
    "timeout", "connection", "stream" or "length"; `message` is the first one's."""

    what: str  # "call" or "finish notice"
    instance: str
    kind: str
    message: str
    count: int
    queries: int


@dataclass(frozen=True)
class Replay:
    records: RunRecords
    failures: tuple[Failure, ...]  # in the order each kind first happened
    retries: int = 0  # times a gateway placed a call again after its engine failed (x-hexsim-retries)
    resent: int = 0  # calls sent again because a gateway reported their stream broken off


async def replay(
    queries: Sequence[Query],
    targets: Sequence[str],
    *,
    model: str,
    slo: float,
    label: str,
    seed: int = 0,
    time_scale: float = 1.0,
    timeout: float,
    on_record: Callable[[CallRecord | QueryRecord], None] | None = None,
) -> Replay:
    """Replay `queries` (each with an arrival time, in arrival order) against `targets` (base URLs).

    `slo` (model seconds) is the end-to-end SLO of queries that carry none; `seed` picks the
    prompts' token ids; `timeout` (wall seconds) is how long a call may take; `on_record` receives
    each call's and each query's record as it ends.
    Query ids and step names must pass `check_sendable`.
    """
    if not targets:
        raise ParameterError("targets", "give at least one target URL")
    if not time_scale > 0:
        raise ParameterError("time_scale", f"must be a positive number, got {time_scale!r}")
    if not timeout > 0:
        raise ParameterError("timeout", f"must be a positive number of seconds, got {timeout!r}")
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT_S), limits=limits)
            )
            for url in targets
        ]
        run = _Run(
            [_Target(instance_name(url), client) for url, client in zip(targets, clients, strict=True)],
            model,
            slo,
            Prompts(queries, seed),
            time_scale,
            timeout,
            on_record,
        )
        await run.all(queries)
    records = RunRecords(label, tuple(run.queries), tuple(run.calls), (), run.last)
    return Replay(records, tuple(f.freeze() for f in run.failures.values()), run.retries, run.resent)


RESENDS = 2  # times a call whose stream a gateway reports broken off is sent again
BROKEN_OFF = 502  # the code of the error event hexsim's gateway ends a broken stream with


class _CallError(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(kind, message)
        self.kind = kind
        self.message = message


class _BrokenOff(_CallError):
    """A gateway's engine broke off the stream after it began: the call can be sent again."""


@dataclass(frozen=True)
class _Target:
    instance: str
    client: httpx.AsyncClient


@dataclass
class _Failures:
    what: str
    instance: str
    kind: str
    message: str
    count: int = 0
    queries: set[str] = field(default_factory=set)

    def freeze(self) -> Failure:
        return Failure(self.what, self.instance, self.kind, self.message, self.count, len(self.queries))


@dataclass
class _Stream:
    """What a call's stream showed, in model seconds from the start of the replay."""

    first_token: float | None = None
    done: float | None = None
    usage: dict | None = None


class _Run:
    def __init__(
        self,
        targets: list[_Target],
        model: str,
        slo: float,
        prompts: Prompts,
        time_scale: float,
        timeout: float,
        on_record: Callable[[CallRecord | QueryRecord], None] | None,
    ):
        self.targets = targets
        self.model = model
        self.slo = slo
        self.prompts = prompts
        self.time_scale = time_scale
        self.timeout = timeout
        self.on_record = on_record
        self.start = 0.0
        self.sent = 0
        self.last = 0.0
        self.calls: list[CallRecord] = []
        self.queries: list[QueryRecord] = []
        self.failures: dict[tuple[str, str, str], _Failures] = {}
        self.retries = 0
        self.resent = 0

    def now(self) -> float:
        """Model seconds since the start of the replay."""
        return (time.perf_counter() - self.start) * self.time_scale

    async def all(self, queries: Sequence[Query]) -> None:
        self.start = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for query in queries:
                due = self.start + query.arrival / self.time_scale
                # uvloop's timers count whole milliseconds and may fire a little early: never send early.
                while (delay := due - time.perf_counter()) > 0:
                    await asyncio.sleep(delay)
                group.create_task(self.query(query))

    async def query(self, query: Query) -> None:
        slo = query.slo if query.slo is not None else self.slo
        finished = None
        for k, stage in enumerate(query.stages):
            targets = [self.targets[(self.sent + i) % len(self.targets)] for i in range(len(stage.calls))]
            self.sent += len(stage.calls)
            ready = self.now()
            records = await asyncio.gather(
                *(
                    self.call(target, query, k, i, call, ready, slo if k == 0 else None)
                    for i, (target, call) in enumerate(zip(targets, stage.calls, strict=True))
                )
            )
            if any(r.finished is None for r in records):
                finished = None
                break
            finished = max(r.finished for r in records)
        self._record(QueryRecord(query.id, query.arrival, slo, finished, query.n_calls, query.workflow))
        if len(self.targets) == 1:
            await self.announce_finish(self.targets[0], query.id)

    async def call(
        self, target: _Target, query: Query, stage: int, index: int, call: Call, ready: float, slo: float | None
    ) -> CallRecord:
        body = {
            "model": self.model,
            "prompt": self.prompts.ids(query.id, stage, index),
            "max_tokens": call.output_tokens,
            "ignore_eos": True,
            "stream": True,
            "stream_options": {"include_usage": True},
            "stream_interval": call.output_tokens,
        }
        headers = {QUERY: query.id, STEP: call.step, STAGE: str(stage)}
        if slo is not None:
            headers[SLO] = repr(slo)
        finished, served_by = None, target.instance
        for attempt in range(RESENDS + 1):
            seen = _Stream()
            try:
                async with asyncio.timeout(self.timeout):
                    async with target.client.stream("POST", "/v1/completions", json=body, headers=headers) as response:
                        if response.status_code != 200:
                            raise _CallError(f"HTTP {response.status_code}", await _error_message(response))
                        served_by = response.headers.get(INSTANCE, target.instance)
                        retries = response.headers.get(RETRIES, "0")
                        self.retries += int(retries) if retries.isdigit() else 0
                        await self._read(response, seen)
                finished = _check(seen, call)
            except TimeoutError:
                self._fail("call", target, query.id, "timeout", f"no end within {self.timeout:g} s")
            except httpx.HTTPError as error:
                self._fail("call", target, query.id, "connection", reason(error))
            except _BrokenOff as error:
                if attempt < RESENDS:
                    self.resent += 1
                    continue
                self._fail("call", target, query.id, error.kind, error.message)
            except _CallError as error:
                self._fail("call", target, query.id, error.kind, error.message)
            break
        record = CallRecord(
            query.id,
            stage,
            index,
            call.step,
            served_by,
            call.input_tokens,
            call.output_tokens,
            ready,
            None,
            seen.first_token,
            finished,
            None,
        )
        self._record(record)
        return record

    async def _read(self, response: httpx.Response, seen: _Stream) -> None:
        """Read a completion's server-sent events to their end, noting the first token, [DONE] and the usage.

        Only the chunks that matter are parsed: those up to the first token, those with usage
        or an error (a target that ignores `stream_interval` sends a chunk per token).
        """
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            now = self.now()
            data = line[5:].strip()
            if data == "[DONE]":
                seen.done = now
                continue
            if seen.first_token is not None and '"completion_tokens"' not in data and not data.startswith('{"error"'):
                continue
            try:
                chunk = json.loads(data)
            except ValueError:
                raise _CallError("stream", f"a chunk is not JSON: {shorten(data)}") from None
            if not isinstance(chunk, dict):
                raise _CallError("stream", f"a chunk is not a JSON object: {shorten(data)}")
            if "error" in chunk:
                error = _BrokenOff if _code(chunk) == BROKEN_OFF else _CallError
                raise error("stream", f"the stream reported an error: {_message(chunk)}")
            if seen.first_token is None and chunk.get("choices"):
                seen.first_token = now
            if isinstance(chunk.get("usage"), dict):
                seen.usage = chunk["usage"]

    async def announce_finish(self, target: _Target, query_id: str) -> None:
        """Tell a gateway the query is done; a plain engine answers 404 to the path: ignored."""
        try:
            async with asyncio.timeout(self.timeout):
                response = await target.client.post(f"/v1/queries/{quote(query_id, safe='')}/finish")
        except TimeoutError:
            self._fail("finish notice", target, query_id, "timeout", f"no answer within {self.timeout:g} s")
            return
        except httpx.HTTPError as error:
            self._fail("finish notice", target, query_id, "connection", reason(error))
            return
        if not response.is_success and response.status_code != 404:
            self._fail("finish notice", target, query_id, f"HTTP {response.status_code}", _message_of(response))

    def _record(self, record: CallRecord | QueryRecord) -> None:
        if isinstance(record, CallRecord):
            self.calls.append(record)
            self.last = max(self.last, self.now())
        else:
            self.queries.append(record)
        if self.on_record is not None:
            self.on_record(record)

    def _fail(self, what: str, target: _Target, query_id: str, kind: str, message: str) -> None:
        key = (what, target.instance, kind)
        failures = self.failures.setdefault(key, _Failures(what, target.instance, kind, message))
        failures.count += 1
        failures.queries.add(query_id)


def _check(seen: _Stream, call: Call) -> float:
    """The end of a complete stream that did the call's work; _CallError otherwise."""
    if seen.done is None:
        raise _CallError("stream", "the stream ended before data: [DONE]")
    if seen.first_token is None:
        raise _CallError("stream", "the stream carried no token")
    if seen.usage is None:
        raise _CallError("stream", "the stream carried no usage")
    prompt, generated = seen.usage.get("prompt_tokens"), seen.usage.get("completion_tokens")
    if prompt != call.input_tokens or generated != call.output_tokens:
        raise _CallError(
            "length",
            f"the engine counted {prompt} prompt and {generated} generated tokens, "
            f"the trace {call.input_tokens} and {call.output_tokens}",
        )
    return seen.done


async def _error_message(response: httpx.Response) -> str:
    await response.aread()
    return _message_of(response)


def _message_of(response: httpx.Response) -> str:
    """The message of an error answer: OpenAI's `error.message`, FastAPI's `detail`, or the text."""
    try:
        body = response.json()
    except ValueError:
        return shorten(response.text) or "(no message)"
    return _message(body)


def _code(body: dict) -> object:
    error = body.get("error")
    return error.get("code") if isinstance(error, dict) else None


def _message(body: object) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return shorten(error["message"])
        if isinstance(body.get("detail"), str):
            return shorten(body["detail"])
    return shorten(json.dumps(body))
