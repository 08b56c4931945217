"""One simulated instance: the engine planner (`hexsim.engine`) driven on SimPy's clock.

A steady decode stretch is one timeout, not one per token. A request that arrives meanwhile
interrupts it: the engine lets the iteration in flight end, finishes the stretch there and
plans again with the newcomer.
"""

from collections.abc import Callable

import simpy

from hexsim.engine.planner import Planner
from hexsim.engine.request import Request
from hexsim.profiles.latency import Profile

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
    ):
        self.env = env
        self.index = index
        self.planner = Planner(profile, scheduling)
        self.on_started = on_started
        self.on_first_token = on_first_token
        self.on_finished = on_finished
        self.timeline = timeline
        self.events = events
        self.busy_time = 0.0
        self.iterations = 0
        self.segments = 0
        self._state = _BUSY  # until its process first finds nothing to do
        self._wake: simpy.Event | None = None
        self._process = env.process(self._run())

    def submit(self, handle: object, prompt_tokens: int, output_tokens: int, priority: int) -> Request:
        request = self.planner.add(handle, prompt_tokens, output_tokens, priority)
        if self._state == _IDLE:
            self._state = _BUSY
            self._wake.succeed()
        elif self._state == _JUMP:
            self._state = _BUSY
            self._process.interrupt()
        return request

    def _run(self):
        env, planner, events, timeline = self.env, self.planner, self.events, self.timeline
        while True:
            plan = planner.plan()
            if plan is None:
                self._state = _IDLE
                self._wake = env.event()
                yield self._wake
                continue
            start = env.now
            if plan.jump:
                iterations = plan.iterations
                self._state = _JUMP
                try:
                    yield env.timeout(plan.duration())
                except simpy.Interrupt:
                    iterations = plan.iterations_by(env.now - start)
                    yield env.timeout(max(start + plan.duration(iterations) - env.now, 0.0))
                self._state = _BUSY
            else:
                iterations = 1
                if events is not None:
                    events += [(start, "preempt", r.handle) for r in plan.preempted]
                    events += [(start, "admit", r.handle) for r in plan.admitted]
                for request in plan.admitted:
                    if not request.preemptions:
                        self.on_started(request)
                yield env.timeout(plan.first)
            now = env.now
            self.busy_time += now - start
            self.iterations += iterations
            self.segments += 1
            if timeline is not None:
                timeline.append((self.index, start, now - start, iterations, plan.prompt_tokens, plan.batch))
            outcome = planner.finish(plan, iterations)
            for request in outcome.prefilled:
                if request.gen == 1:
                    self.on_first_token(request)
            if events is not None:
                events += [(now, "finish", r.handle) for r in outcome.finished]
            for request in outcome.finished:
                self.on_finished(request)
