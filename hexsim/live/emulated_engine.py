"""The engine planner (`hexsim.engine`) driven on the wall clock, a step at a time.

An asyncio task plans a step, sleeps until it ends (its profile time divided by `time_scale`)
and finishes it. Step ends are scheduled on the loop's absolute clock, so the overshoot of
each sleep does not accumulate. A steady decode stretch is one sleep, as in the simulator: a
request that arrives (or is aborted) meanwhile cuts it short, and the engine plans again at
the end of the iteration in flight. The simulator drives the same planner on simulated time,
so the two admit, preempt and finish the same requests in the same order.

A request's HTTP handler is woken only when it has something to send, as vLLM's output
processor decides with its stream interval k: at the first token, then whenever k tokens have
gathered since the last wake-up, and at the last token; a request that does not stream wakes
once, when it finishes. The engine plans no further than the next wake-up any handler needs,
so at interval 1 a streamed token arrives when its iteration ends, and requests that do not
stream cost a sleep per stretch, not per token.
"""

import asyncio
import heapq
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from hexsim.engine.plan import Outcome
from hexsim.engine.planner import Planner
from hexsim.engine.request import DECODE, DONE, Request
from hexsim.profiles.latency import Profile
from hexsim.workload.model import block_segments


@dataclass(eq=False)
class EngineRequest:
    """A request as its HTTP handler sees it: `generated` tokens as of its last wake-up.

    `interval` is the stream interval, None for a request that wakes only when it finishes;
    `due` is the token count at which it wakes next.
    """

    prompt_tokens: int
    max_tokens: int
    interval: int | None = None
    generated: int = 0
    due: int = 0
    request: Request | None = None
    woken: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.due = 1 if self.interval else self.max_tokens


class EmulatedEngine:
    """`events`, if given, receives (loop time, "admit" | "preempt" | "finish", EngineRequest) as they happen.

    `prompt_tokens_total` and `generation_tokens_total` count as vLLM's counters of those names
    do: a request's prompt when it gets its first token, every token generated.
    """

    def __init__(
        self,
        profile: Profile,
        scheduling: str = "fcfs",
        time_scale: float = 1.0,
        events: list | None = None,
        *,
        prefix_caching: bool = True,
    ):
        self.planner = Planner(profile, scheduling, prefix_caching=prefix_caching)
        self.time_scale = time_scale
        self.events = events
        self.prompt_tokens_total = 0
        self.generation_tokens_total = 0
        self._live = 0  # submitted, neither finished nor aborted
        self._aborted: list[EngineRequest] = []
        self._due: list[tuple[int, int, EngineRequest]] = []  # (iteration, decoder ticket, handle) of wake-ups
        self._alarm: asyncio.Future | None = None

    @property
    def requests_running(self) -> int:
        """Requests in the batch (prefilling or decoding)."""
        return len(self.planner.running)

    @property
    def requests_waiting(self) -> int:
        """Requests queued for a seat, preempted ones included."""
        return self._live - len(self.planner.running)

    @property
    def prefix_cache_queries(self) -> int:
        cache = self.planner.cache
        return cache.queries if cache is not None else 0

    @property
    def prefix_cache_hits(self) -> int:
        cache = self.planner.cache
        return cache.hits if cache is not None else 0

    @property
    def kv_cache_usage(self) -> float:
        """KV blocks in use as a share of the cache, 0..1."""
        return self.planner.used_blocks / self.planner.capacity

    def submit(
        self,
        prompt_tokens: int,
        max_tokens: int,
        priority: int = 0,
        interval: int | None = None,
        prompt: Sequence[int | str] = (),
    ) -> EngineRequest:
        """Queue a request (ParameterError if it can never fit or its priority is not allowed).

        Its handler wakes every `interval` tokens as it streams them, or once at the end if None.
        With `prompt`, its tokens, its full blocks are found in and added to the prefix cache.
        """
        handle = EngineRequest(prompt_tokens, max_tokens, interval)
        prefix = block_segments(prompt, self.planner.block) if self.planner.cache is not None else ()
        handle.request = self.planner.add(handle, prompt_tokens, max_tokens, priority, prefix)
        self._live += 1
        self._interrupt()
        return handle

    async def tokens(self, handle: EngineRequest) -> AsyncIterator[int]:
        """Yield the count of tokens generated so far at each of the request's wake-ups.

        A consumer that stops early (its client went away) aborts the request: it leaves the
        engine before the next iteration.
        """
        received = 0
        try:
            while received < handle.max_tokens:
                await handle.woken.wait()
                handle.woken.clear()
                received = handle.generated
                yield received
        finally:
            if received < handle.max_tokens:
                self._aborted.append(handle)
                self._interrupt()

    async def run(self) -> None:
        """The engine loop; runs until cancelled."""
        loop = asyncio.get_running_loop()
        planner = self.planner
        scale = self.time_scale
        end = loop.time()
        while True:
            self._drop_aborted()
            plan = planner.plan(limit=self._horizon())
            if plan is None:
                await self._sleep(None)
                end = loop.time()
                continue
            self._record(loop, "preempt", plan.preempted)
            self._record(loop, "admit", plan.admitted)
            decoders = planner.n_dec
            start = end
            steps = plan.iterations
            end = start + plan.duration() / scale
            if steps > 1:
                cut = await self._sleep(end)
                if cut is not None:
                    steps = plan.iterations_by((cut - start) * scale)
                    end = start + plan.duration(steps) / scale
                    await asyncio.sleep(end - loop.time())
            else:
                await asyncio.sleep(end - loop.time())
            outcome = planner.finish(plan, steps)
            self.generation_tokens_total += decoders * steps + len(outcome.prefilled)
            self._deliver(outcome)
            self._record(loop, "finish", outcome.finished)

    # -- wake-ups ----------------------------------------------------------------------------

    def _deliver(self, outcome: Outcome) -> None:
        """Wake the handlers a finished step owes a chunk: requests done, requests whose prompt
        (or recompute) gave a token they wait for, decoders whose next chunk is due."""
        for request in outcome.finished:
            self._live -= 1
            self._wake(request.handle, request.out)
        for request in outcome.prefilled:
            if request.gen == 1:
                self.prompt_tokens_total += request.prompt
            if request.state == DECODE:
                if request.gen >= request.handle.due:
                    self._wake(request.handle, request.gen)
                self._schedule(request)
        due, it = self._due, self.planner.it
        while due and due[0][0] <= it:
            _, ticket, handle = heapq.heappop(due)
            if self._valid(ticket, handle):
                request = handle.request
                self._wake(handle, request.out - (request.end - it))
                self._schedule(request)

    def _wake(self, handle: EngineRequest, generated: int) -> None:
        handle.generated = generated
        handle.due = min(generated + handle.interval, handle.max_tokens) if handle.interval else handle.max_tokens
        handle.woken.set()

    def _schedule(self, request: Request) -> None:
        """Note the iteration at which a decoding request's handler wakes next, unless that is when it finishes."""
        handle = request.handle
        if handle.due < request.out:
            # A decoder has `out - (end - it)` tokens at iteration `it`.
            heapq.heappush(self._due, (request.end - request.out + handle.due, request.ticket, handle))

    def _valid(self, ticket: int, handle: EngineRequest) -> bool:
        """Whether a wake-up noted for a decoder still stands (it was not preempted, aborted or finished since)."""
        request = handle.request
        return request.state == DECODE and request.ticket == ticket

    def _horizon(self) -> int | None:
        """Iterations until some decoder's handler must wake; None if none must before it finishes."""
        due = self._due
        while due:
            at, ticket, handle = due[0]
            if self._valid(ticket, handle):
                return at - self.planner.it  # >= 1: a finished step wakes every handler due by its end
            heapq.heappop(due)
        return None

    # -- the loop's sleeps ---------------------------------------------------------------------

    async def _sleep(self, until: float | None) -> float | None:
        """Sleep until loop time `until` (None: until woken); returns the loop time of the
        arrival or abort that cut the sleep short, or None."""
        loop = asyncio.get_running_loop()
        self._alarm = alarm = loop.create_future()
        timer = None if until is None else loop.call_at(until, _ring, alarm, None)
        try:
            return await alarm
        finally:
            self._alarm = None
            if timer is not None:
                timer.cancel()

    def _interrupt(self) -> None:
        alarm = self._alarm
        if alarm is not None:
            _ring(alarm, alarm.get_loop().time())

    def _drop_aborted(self) -> None:
        for handle in self._aborted:
            if handle.request.state != DONE:
                self.planner.abort(handle.request)
                self._live -= 1
        self._aborted.clear()

    def _record(self, loop: asyncio.AbstractEventLoop, kind: str, requests: list[Request]) -> None:
        if self.events is not None:
            now = loop.time()
            self.events += [(now, kind, r.handle) for r in requests]


def _ring(alarm: asyncio.Future, value: float | None) -> None:
    if not alarm.done():
        alarm.set_result(value)
