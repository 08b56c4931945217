"""The engine planner (`hexsim.engine`) driven on the wall clock, one iteration at a time.

An asyncio task plans an iteration, sleeps until it ends (its profile time divided by
`time_scale`) and emits its tokens: one to every decoding request and one to every request
whose prompt it completed. Iteration ends are scheduled on the loop's absolute clock, so the
overshoot of each sleep does not accumulate. The simulator drives the same planner on
simulated time, so the two admit, preempt and finish the same requests in the same order.
"""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from hexsim.engine.planner import Planner
from hexsim.engine.request import Request
from hexsim.profiles.latency import Profile


@dataclass(eq=False)
class EngineRequest:
    """A request as its HTTP handler sees it; `tokens` receives the number generated so far after each token."""

    prompt_tokens: int
    max_tokens: int
    tokens: asyncio.Queue[int] = field(default_factory=asyncio.Queue)
    generated: int = 0
    request: Request | None = None


class EmulatedEngine:
    """`events`, if given, receives (loop time, "admit" | "preempt" | "finish", EngineRequest) as they happen."""

    def __init__(self, profile: Profile, scheduling: str = "fcfs", time_scale: float = 1.0, events: list | None = None):
        self.planner = Planner(profile, scheduling)
        self.time_scale = time_scale
        self.events = events
        self._aborted: list[EngineRequest] = []
        self._wake = asyncio.Event()

    def submit(self, prompt_tokens: int, max_tokens: int, priority: int = 0) -> EngineRequest:
        """Queue a request (ParameterError if it can never fit or its priority is not allowed)."""
        handle = EngineRequest(prompt_tokens, max_tokens)
        handle.request = self.planner.add(handle, prompt_tokens, max_tokens, priority)
        self._wake.set()
        return handle

    async def tokens(self, handle: EngineRequest) -> AsyncIterator[int]:
        """Yield the running count of generated tokens as each token is produced.

        A consumer that stops early (its client went away) aborts the request: it leaves the
        engine before the next iteration.
        """
        received = 0
        try:
            while received < handle.max_tokens:
                received = await handle.tokens.get()
                yield received
        finally:
            if received < handle.max_tokens:
                self._aborted.append(handle)

    async def run(self) -> None:
        """The engine loop; runs until cancelled."""
        loop = asyncio.get_running_loop()
        planner = self.planner
        end = loop.time()
        while True:
            for handle in self._aborted:
                planner.abort(handle.request)
            self._aborted.clear()
            plan = planner.plan(limit=1)
            if plan is None:
                self._wake.clear()
                await self._wake.wait()
                end = loop.time()
                continue
            self._record(loop, "preempt", plan.preempted)
            self._record(loop, "admit", plan.admitted)
            decoding = planner.decoding()
            end += plan.first / self.time_scale
            await asyncio.sleep(end - loop.time())
            outcome = planner.finish(plan)
            for request in decoding:
                _emit(request.handle)
            for request in outcome.prefilled:
                _emit(request.handle)
            self._record(loop, "finish", outcome.finished)

    def _record(self, loop: asyncio.AbstractEventLoop, kind: str, requests: list[Request]) -> None:
        if self.events is not None:
            now = loop.time()
            self.events += [(now, kind, r.handle) for r in requests]


def _emit(handle: EngineRequest) -> None:
    handle.generated += 1
    handle.tokens.put_nowait(handle.generated)
