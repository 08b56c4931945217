"""The engine model: one instance behaving like vLLM v1 with continuous batching.

Each iteration every running sequence that has finished its prompt decodes one token, and
the rest of the token budget goes to prompt chunks: first of running sequences, then of
waiting calls admitted in the local queue's order while seats and KV blocks allow. When a
running sequence needs a KV block and none is free, the most recently admitted sequence is
preempted and later recomputed (prompt plus the tokens it had generated).

While the batch cannot change (every sequence decoding, no waiting call admissible) the
engine does not step: it jumps to the next completion or KV exhaustion, summing the
iteration times in closed form. A call dispatched meanwhile interrupts the jump; the engine
then finishes the iteration in flight and plans again from there.
"""

import math
from collections.abc import Callable

import simpy

from hexsim.profiles.latency import Profile
from hexsim.scheduler.core import Scheduler
from hexsim.scheduler.task import CallTask

_IDLE, _BUSY, _JUMP = 0, 1, 2


class Seq:
    """KV progress of one call. `target` tokens must be in the KV cache before it decodes."""

    __slots__ = ("task", "out", "target", "kv", "gen")

    def __init__(self, task: CallTask):
        self.task = task
        self.out = task.call.output_tokens
        self.gen = 0
        self.kv = 0
        self.target = task.call.input_tokens


class Engine:
    def __init__(
        self,
        env: simpy.Environment,
        index: int,
        profile: Profile,
        scheduler: Scheduler,
        on_finish: Callable[[CallTask], None],
        on_fail: Callable[[CallTask], None],
        timeline: list | None = None,
    ):
        self.env = env
        self.index = index
        self.profile = profile
        self.scheduler = scheduler
        self.on_finish = on_finish
        self.on_fail = on_fail
        self.timeline = timeline
        self.running: list[Seq] = []
        self.used_blocks = 0
        self.peak_blocks = 0
        self.busy_time = 0.0
        self.iterations = 0
        self._state = _IDLE
        self._wake: simpy.Event | None = None
        self._process = env.process(self._run())

    def notify(self) -> None:
        """A call was queued for this instance: wake the engine if it is idle or jumping."""
        if self._state == _IDLE:
            self._state = _BUSY
            self._wake.succeed()
        elif self._state == _JUMP:
            self._state = _BUSY
            self._process.interrupt()

    def _run(self):
        env = self.env
        while True:
            if not self.running and self.scheduler.peek(self.index) is None:
                self._state = _IDLE
                self._wake = env.event()
                yield self._wake
                continue
            jump = self._plan_jump()
            if jump is not None:
                steps, first, growth = jump
                start = env.now
                self._state = _JUMP
                try:
                    yield env.timeout(_jump_time(steps, first, growth))
                except simpy.Interrupt:
                    steps = min(steps, _steps_to_cover(env.now - start, first, growth))
                    yield env.timeout(max(start + _jump_time(steps, first, growth) - env.now, 0.0))
                self._state = _BUSY
                self._record(start, steps, 0, len(self.running))
                self._advance_decode(steps)
                continue
            batch, duration = self._schedule_step()
            if not batch:
                continue
            start = env.now
            yield env.timeout(duration)
            self._record(start, 1, sum(n for s, n in batch if s.kv < s.target), len(batch))
            self._apply_step(batch)

    def _plan_jump(self) -> tuple[int, float, float] | None:
        """(steps, first iteration time, growth per iteration) if the batch is steady, else None."""
        running = self.running
        if not running:
            return None
        p = self.profile
        size = p.block_size
        new_blocks = 0
        context = 0
        remaining = running[0].out
        for s in running:
            if s.kv < s.target:
                return None
            if s.kv % size == 0:
                new_blocks += 1
            context += s.kv + 1
            remaining = min(remaining, s.out - s.gen)
        free = p.kv_capacity_blocks - self.used_blocks - new_blocks
        if free < 0:
            return None
        head = self.scheduler.peek(self.index)
        n = len(running)
        if head is not None and n < p.max_num_seqs:
            chunk = min(_prefill_target(head), p.max_num_batched_tokens - n)
            if -(-chunk // size) <= free:
                return None
        steps = self._steps_before_kv_full(remaining)
        if steps == 0:
            return None
        c = p.coefficients
        first = c.base + c.decode_seq * n + c.context_token * context
        return steps, first, c.context_token * n

    def _steps_before_kv_full(self, limit: int) -> int:
        """How many of the next `limit` decode steps fit in the KV cache."""
        running = self.running
        size = self.profile.block_size
        capacity = self.profile.kv_capacity_blocks
        total = sum(s.kv for s in running)
        if (total + len(running) * limit) / size + len(running) <= capacity:
            return limit
        lo, hi = 0, limit
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if sum(-(-(s.kv + mid) // size) for s in running) <= capacity:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _advance_decode(self, steps: int) -> None:
        size = self.profile.block_size
        used = 0
        finished = []
        for s in self.running:
            s.kv += steps
            s.gen += steps
            used += -(-s.kv // size)
            if s.gen == s.out:
                finished.append(s)
        self.used_blocks = used
        self.peak_blocks = max(self.peak_blocks, used)
        for s in finished:
            self._finish(s)

    def _schedule_step(self) -> tuple[list[tuple[Seq, int]], float]:
        """Choose the next iteration's batch (preempting and admitting); return it and its time."""
        p = self.profile
        size = p.block_size
        budget = p.max_num_batched_tokens
        free = p.kv_capacity_blocks - self.used_blocks
        running = self.running
        batch: list[tuple[Seq, int]] = []
        preempted = False
        i = 0
        while i < len(running) and budget > 0:
            s = running[i]
            need = 1 if s.kv >= s.target else min(s.target - s.kv, budget)
            blocks = -(-(s.kv + need) // size) - -(-s.kv // size)
            while blocks > free and running[-1] is not s:
                free += self._preempt(running.pop())
                preempted = True
            if blocks > free:
                free += self._preempt(running.pop())
                preempted = True
                break
            batch.append((s, need))
            free -= blocks
            budget -= need
            i += 1
        while not preempted and budget > 0 and len(running) < p.max_num_seqs:
            task = self.scheduler.peek(self.index)
            if task is None:
                break
            target = _prefill_target(task)
            if -(-(task.call.input_tokens + task.call.output_tokens) // size) > p.kv_capacity_blocks:
                self.scheduler.pop(self.index)
                self.on_fail(task)
                continue
            need = min(target, budget)
            blocks = -(-need // size)
            if blocks > free:
                break
            self.scheduler.pop(self.index)
            s = task.engine_state
            if s is None:
                s = task.engine_state = Seq(task)
                task.admitted = self.env.now
            s.target = target
            running.append(s)
            batch.append((s, need))
            free -= blocks
            budget -= need
        self.used_blocks = p.kv_capacity_blocks - free
        self.peak_blocks = max(self.peak_blocks, self.used_blocks)
        prefill = prefill_sq = decodes = context = 0
        for s, need in batch:
            if s.kv >= s.target:
                decodes += 1
                context += s.kv + 1
            else:
                prefill += need
                prefill_sq += need * (2 * s.kv + need)
        return batch, p.coefficients.iteration_time(prefill, prefill_sq, decodes, context)

    def _preempt(self, s: Seq) -> int:
        """Drop a sequence's KV cache and send it back to the queue; returns the freed blocks."""
        freed = -(-s.kv // self.profile.block_size)
        s.kv = 0
        self.scheduler.requeue(s.task)
        return freed

    def _apply_step(self, batch: list[tuple[Seq, int]]) -> None:
        now = self.env.now
        for s, need in batch:
            decoding = s.kv >= s.target
            s.kv += need
            if decoding or s.kv == s.target:
                s.gen += 1
                if s.task.first_token is None:
                    s.task.first_token = now
                if s.gen == s.out:
                    self._finish(s)

    def _finish(self, s: Seq) -> None:
        self.running.remove(s)
        self.used_blocks -= -(-s.kv // self.profile.block_size)
        s.task.finished = self.env.now
        self.on_finish(s.task)

    def _record(self, start: float, iterations: int, prefill_tokens: int, batch_size: int) -> None:
        duration = self.env.now - start
        self.busy_time += duration
        self.iterations += iterations
        if self.timeline is not None:
            self.timeline.append((self.index, start, duration, iterations, prefill_tokens, batch_size))


def _prefill_target(task: CallTask) -> int:
    """Tokens to compute before the call decodes: its prompt, plus any output it had before preemption."""
    s = task.engine_state
    return task.call.input_tokens + (s.gen if s is not None else 0)


def _jump_time(steps: int, first: float, growth: float) -> float:
    """Sum of `steps` iteration times that start at `first` and grow by `growth` each."""
    return steps * first + growth * steps * (steps - 1) / 2.0


def _steps_to_cover(elapsed: float, first: float, growth: float) -> int:
    """Smallest m >= 1 whose first m iterations end at or after `elapsed`."""
    if growth > 0:
        b = first - growth / 2.0
        m = math.ceil((-b + math.sqrt(b * b + 2.0 * growth * elapsed)) / growth)
    else:
        m = math.ceil(elapsed / first)
    m = max(m, 1)
    while _jump_time(m, first, growth) < elapsed:
        m += 1
    while m > 1 and _jump_time(m - 1, first, growth) >= elapsed:
        m -= 1
    return m
