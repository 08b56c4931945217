"""The engine model: one instance behaving like vLLM v1 with continuous batching.

Each iteration every running sequence that has finished its prompt decodes one token, and
the rest of the token budget goes to prompt chunks: first of running sequences, then of
waiting calls admitted in the local queue's order while seats and KV blocks allow. When the
iteration needs more KV blocks than are free, the most recently admitted sequences are
preempted and later recomputed (prompt plus the tokens they had generated), as in vLLM.

Cost does not grow with batch size or output length. Decoding sequences advance in lock
step, so they are kept as aggregates over a shared iteration counter `it`: a decoder's KV
length is `base + it`, it finishes at iteration `end` (a heap), and it needs a new KV block
exactly when `(base + it) % block_size == 0` (counts per residue class). While the batch
cannot change (every sequence decoding, no waiting call admissible) the engine jumps to the
next completion or KV exhaustion, summing iteration times in closed form. A call dispatched
meanwhile interrupts the jump; the engine finishes the iteration in flight and re-plans.
"""

import heapq
import math
from collections.abc import Callable

import simpy

from hexsim.profiles.latency import Profile
from hexsim.scheduler.core import Scheduler
from hexsim.scheduler.task import CallTask

_IDLE, _BUSY, _JUMP = 0, 1, 2
_WAITING, _PREFILL, _DECODE = 0, 1, 2


class Seq:
    """Progress of one call: `kv` tokens cached (prefill), `gen` tokens generated."""

    __slots__ = ("task", "out", "target", "kv", "gen", "base", "end", "state", "ticket")

    def __init__(self, task: CallTask):
        self.task = task
        self.out = task.call.output_tokens
        self.target = task.call.input_tokens
        self.kv = 0
        self.gen = 0
        self.base = 0
        self.end = 0
        self.state = _WAITING
        self.ticket = 0


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
        self.block = profile.block_size
        self.capacity = profile.kv_capacity_blocks
        cap = scheduler.config.max_running
        self.seats = min(profile.max_num_seqs, cap) if cap else profile.max_num_seqs
        self.it = 0
        self.order: dict[Seq, None] = {}
        self.prefilling: list[Seq] = []
        self.n_dec = 0
        self.base_sum = 0
        self.residues = [0] * self.block
        self.ends: list[tuple[int, int, Seq]] = []
        self.used_blocks = 0
        self.peak_blocks = 0
        self.busy_time = 0.0
        self.iterations = 0
        self.segments = 0
        self._tickets = 0
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

    def kv_blocks_in_use(self) -> int:
        """KV blocks held by the running sequences, recounted from scratch."""
        total = 0
        for s in self.order:
            kv = s.base + self.it if s.state == _DECODE else s.kv
            total += -(-kv // self.block)
        return total

    def _run(self):
        env = self.env
        while True:
            if not self.order and self.scheduler.peek(self.index) is None:
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
                self._record(start, steps, 0, self.n_dec)
                self._advance_decoders(steps)
                continue
            prefills, tokens, duration = self._schedule_step()
            if duration is None:
                continue
            start = env.now
            yield env.timeout(duration)
            self._record(start, 1, tokens, self.n_dec + len(prefills))
            self._apply_step(prefills)

    # -- steady decoding -------------------------------------------------------------------

    def _plan_jump(self) -> tuple[int, float, float] | None:
        """(steps, first iteration time, growth per iteration) if the batch is steady, else None."""
        n = self.n_dec
        if n == 0 or self.prefilling:
            return None
        free = self.capacity - self.used_blocks
        p = self.profile
        head = self.scheduler.peek(self.index)
        if head is not None and n < self.seats:
            chunk = min(_prefill_target(head), p.max_num_batched_tokens - n)
            if -(-chunk // self.block) <= free - self.residues[-self.it % self.block]:
                return None
        ends = self.ends
        while ends[0][2].state != _DECODE or ends[0][2].ticket != ends[0][1]:
            heapq.heappop(ends)
        steps = self._steps_within(free, ends[0][0] - self.it)
        if steps == 0:
            return None
        c = p.coefficients
        context = self.base_sum + n * (self.it + 1)
        first = c.base + c.decode_seq * n + c.context_token * context
        return steps, first, c.context_token * n

    def _steps_within(self, free: int, limit: int) -> int:
        """How many of the next `limit` decode iterations find the KV blocks they need."""
        n, block, residues, it = self.n_dec, self.block, self.residues, self.it
        cycles = free // n
        if cycles * block >= limit:
            return limit
        left = free - cycles * n
        t = cycles * block
        while t < limit:
            need = residues[-(it + t) % block]
            if need > left:
                break
            left -= need
            t += 1
        return t

    def _advance_decoders(self, steps: int) -> None:
        n, block, residues, it = self.n_dec, self.block, self.residues, self.it
        cycles, rest = divmod(steps, block)
        grown = cycles * n + sum(residues[-(it + t) % block] for t in range(rest))
        self.it = it + steps
        self.used_blocks += grown
        self.peak_blocks = max(self.peak_blocks, self.used_blocks)
        self._finish_decoders()

    def _finish_decoders(self) -> None:
        ends, it = self.ends, self.it
        while ends and ends[0][0] <= it:
            _, ticket, s = heapq.heappop(ends)
            if s.state == _DECODE and s.ticket == ticket:
                self._remove_decoder(s)
                s.gen = s.out
                s.state = _WAITING
                del self.order[s]
                self.used_blocks -= -(-(s.base + it) // self.block)
                self._finish(s)

    # -- one iteration with prompt work ----------------------------------------------------

    def _schedule_step(self) -> tuple[list[tuple[Seq, int]], int, float | None]:
        """Choose the next iteration's prompt chunks, preempting and admitting: (chunks, prompt tokens, time)."""
        p = self.profile
        block = self.block
        free = self.capacity - self.used_blocks - self.residues[-self.it % block]
        preempted = False
        while free < 0:
            free += self._preempt_last()
            preempted = True
        prefills: list[tuple[Seq, int]] = []
        scheduled = 0
        for s in list(self.prefilling):
            budget = p.max_num_batched_tokens - self.n_dec - scheduled
            if s.state != _PREFILL or budget <= 0:
                break
            need = min(s.target - s.kv, budget)
            blocks = -(-(s.kv + need) // block) - -(-s.kv // block)
            while blocks > free and s.state == _PREFILL:
                free += self._preempt_last()
                preempted = True
            if s.state != _PREFILL:
                break
            prefills.append((s, need))
            free -= blocks
            scheduled += need
        budget = p.max_num_batched_tokens - self.n_dec - scheduled
        while not preempted and budget > 0 and len(self.order) < self.seats:
            task = self.scheduler.peek(self.index)
            if task is None:
                break
            if -(-(task.call.input_tokens + task.call.output_tokens) // block) > self.capacity:
                self.scheduler.pop(self.index)
                self.on_fail(task)
                continue
            target = _prefill_target(task)
            need = min(target, budget)
            if -(-need // block) > free:
                break
            self.scheduler.pop(self.index)
            s = task.engine_state
            if s is None:
                s = task.engine_state = Seq(task)
                task.admitted = self.env.now
            s.target, s.kv, s.state = target, 0, _PREFILL
            self.order[s] = None
            self.prefilling.append(s)
            prefills.append((s, need))
            free -= -(-need // block)
            budget -= need
        self.used_blocks = self.capacity - free
        self.peak_blocks = max(self.peak_blocks, self.used_blocks)
        if not prefills and self.n_dec == 0:
            return prefills, 0, None
        tokens = square = 0
        for s, need in prefills:
            tokens += need
            square += need * (2 * s.kv + need)
        n = self.n_dec
        context = self.base_sum + n * (self.it + 1)
        return prefills, tokens, p.coefficients.iteration_time(tokens, square, n, context)

    def _apply_step(self, prefills: list[tuple[Seq, int]]) -> None:
        self.it += 1
        now = self.env.now
        self._finish_decoders()
        for s, need in prefills:
            s.kv += need
            if s.kv < s.target:
                continue
            self.prefilling.remove(s)
            s.gen += 1
            if s.task.first_token is None:
                s.task.first_token = now
            if s.gen == s.out:
                s.state = _WAITING
                del self.order[s]
                self.used_blocks -= -(-s.kv // self.block)
                self._finish(s)
            else:
                self._add_decoder(s)

    # -- bookkeeping -----------------------------------------------------------------------

    def _add_decoder(self, s: Seq) -> None:
        s.state = _DECODE
        s.base = s.kv - self.it
        s.end = self.it + s.out - s.gen
        self.n_dec += 1
        self.base_sum += s.base
        self.residues[s.base % self.block] += 1
        self._tickets += 1
        s.ticket = self._tickets
        heapq.heappush(self.ends, (s.end, s.ticket, s))

    def _remove_decoder(self, s: Seq) -> None:
        self.n_dec -= 1
        self.base_sum -= s.base
        self.residues[s.base % self.block] -= 1

    def _preempt_last(self) -> int:
        """Preempt the most recently admitted sequence; returns the KV blocks this frees for the iteration."""
        s = next(reversed(self.order))
        del self.order[s]
        if s.state == _DECODE:
            kv = s.base + self.it
            freed = -(-kv // self.block) + (1 if kv % self.block == 0 else 0)
            self._remove_decoder(s)
            s.gen = s.out - (s.end - self.it)
        else:
            freed = -(-s.kv // self.block)
            self.prefilling.remove(s)
        s.state = _WAITING
        s.kv = 0
        self.scheduler.requeue(s.task)
        return freed

    def _finish(self, s: Seq) -> None:
        s.task.finished = self.env.now
        self.on_finish(s.task)

    def _record(self, start: float, iterations: int, prefill_tokens: int, batch_size: int) -> None:
        duration = self.env.now - start
        self.busy_time += duration
        self.iterations += iterations
        self.segments += 1
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
