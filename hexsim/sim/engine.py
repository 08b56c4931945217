"""One simulated instance: the engine planner (`hexsim.engine`) driven on SimPy's clock.

Each engine step is one SimPy timeout whose callback finishes the step and plans the next; a
steady decode stretch is one timeout, not one per token. A request that arrives meanwhile
cuts the stretch short: the engine lets the iteration in flight end and plans again there,
with the newcomer (the stretch's own timeout, when it fires, is ignored). Callbacks on
timeouts, rather than a SimPy process, spare every step a generator resumption.
"""

from collections.abc import Callable

import simpy

from hexsim.engine.plan import Plan
from hexsim.engine.planner import Planner
from hexsim.engine.request import Request
from hexsim.profiles.latency import Profile
from hexsim.workload.model import Segment

_IDLE, _BUSY, _JUMP = 0, 1, 2


class SimEngine:
    """Runs admitted requests; tells the runtime when each starts, gets its first token and finishes.

    `timeline`, if given, receives one (instance, start, duration, iterations, prompt tokens,
    batch size) tuple per step; `events` (time, "admit" | "preempt" | "finish", handle) as they happen.
    """

    def __init__(
        self,
        env: simpy.Environment,
        index: int,
        profile: Profile,
        scheduling: str,
        on_started: Callable[[Request], None],
        on_first_token: Callable[[Request], None],
        on_finished: Callable[[Request], None],
        timeline: list | None = None,
        events: list | None = None,
        *,
        prefix_caching: bool = True,
    ):
        self.env = env
        self.index = index
        self.planner = Planner(profile, scheduling, prefix_caching=prefix_caching)
        self.on_started = on_started
        self.on_first_token = on_first_token
        self.on_finished = on_finished
        self.timeline = timeline
        self.events = events
        self.busy_time = 0.0
        self.iterations = 0
        self.segments = 0
        self._state = _IDLE
        self._plan: Plan | None = None
        self._start = 0.0
        self._steps = 0
        self._pending: simpy.Event | None = None

    def submit(
        self, handle: object, prompt_tokens: int, output_tokens: int, priority: int, prefix: tuple[Segment, ...] = ()
    ) -> Request:
        request = self.planner.add(handle, prompt_tokens, output_tokens, priority, prefix)
        if self._state == _IDLE:
            self._state = _BUSY
            self._wait(0.0)
        elif self._state == _JUMP:
            self._state = _BUSY
            plan, start, now = self._plan, self._start, self.env.now
            self._steps = plan.iterations_by(now - start)
            self._wait(max(start + plan.duration(self._steps) - now, 0.0))
        return request

    def _wait(self, delay: float) -> None:
        """End the current step `delay` seconds from now (a step already waited for is dropped)."""
        self._pending = self.env.timeout(delay)
        self._pending.callbacks.append(self._step_ended)

    def _step_ended(self, event: simpy.Event) -> None:
        if event is not self._pending:
            return
        self._state = _BUSY
        now = self.env.now
        plan = self._plan
        if plan is not None:
            self._finish(plan, now)
        plan = self._plan = self.planner.plan()
        if plan is None:
            self._state = _IDLE
            return
        self._start = now
        if plan.jump:
            self._state = _JUMP
            self._steps = plan.iterations
            self._wait(plan.duration())
            return
        self._steps = 1
        if self.events is not None:
            self.events += [(now, "preempt", r.handle) for r in plan.preempted]
            self.events += [(now, "admit", r.handle) for r in plan.admitted]
        for request in plan.admitted:
            if not request.preemptions:
                self.on_started(request)
        self._wait(plan.first)

    def _finish(self, plan: Plan, now: float) -> None:
        steps = self._steps
        self.busy_time += now - self._start
        self.iterations += steps
        self.segments += 1
        if self.timeline is not None:
            self.timeline.append((self.index, self._start, now - self._start, steps, plan.prompt_tokens, plan.batch))
        outcome = self.planner.finish(plan, steps)
        for request in outcome.prefilled:
            if request.gen == 1:
                self.on_first_token(request)
        if self.events is not None:
            self.events += [(now, "finish", r.handle) for r in outcome.finished]
        for request in outcome.finished:
            self.on_finished(request)
