"""The engine model: one vLLM v1 instance with continuous batching, as a clock-free planner.

Each iteration every running request that has finished its prompt decodes one token, and the
rest of the token budget goes to prompt chunks: first of running requests, then of waiting
requests admitted in queue order while seats and KV blocks allow (chunked prefill). When an
iteration needs more KV blocks than are free, running requests are preempted and later
recomputed (prompt plus the tokens they had generated): under FCFS scheduling the most
recently admitted, under priority scheduling the one with the highest `(priority, arrival)`,
as vLLM's `v1/core/sched/scheduler.py` does. Waiting requests are admitted only in an
iteration that preempted nothing, FCFS in arrival order (a preempted request back at the
front), priority by `(priority, arrival)`; a full house never preempts for priority.

With prefix caching (vLLM's default) a request admitted finds the longest cached run of full
blocks of its prompt and computes only the rest; blocks shared by running requests count once,
and freed blocks keep their content until they are reused (`prefix_cache.py`). As in vLLM, a
block counts as cached once it is scheduled for computing, so calls admitted in one iteration
share their common prefix.

A runtime drives it: `plan()` the next step, let its time pass on its own clock, `finish()`
it. Cost does not grow with batch size or output length. Decoding requests advance in lock
step, so they are kept as aggregates over a shared iteration counter `it`: a decoder's KV
length is `base + it`, it finishes at iteration `end` (a heap), and it needs a new KV block
exactly when `(base + it) % block_size == 0` (counts per residue class). While the batch
cannot change (every request decoding, no waiting request admissible) a plan covers every
iteration up to the next completion or KV exhaustion; a runtime that must re-plan sooner (a
request arrived) finishes it after fewer iterations.
"""

import heapq

from hexsim.defaults import SCHEDULING_POLICIES
from hexsim.engine.plan import Outcome, Plan
from hexsim.engine.prefix_cache import PrefixCache
from hexsim.engine.request import DECODE, DONE, PREFILL, WAITING, FcfsQueue, PriorityQueue, Request
from hexsim.errors import ParameterError
from hexsim.profiles.latency import Profile
from hexsim.workload.model import Segment


class Planner:
    def __init__(self, profile: Profile, scheduling: str = "fcfs", *, prefix_caching: bool = True):
        if scheduling not in SCHEDULING_POLICIES:
            raise ParameterError("scheduling", f"unknown scheduling policy {scheduling!r} (expected fcfs or priority)")
        self.profile = profile
        self.scheduling = scheduling
        self.block = profile.block_size
        self.capacity = profile.kv_capacity_blocks
        self.longest = profile.kv_capacity_tokens_usable
        self._coefficients = profile.coefficients
        self.seats = profile.max_num_seqs
        self.token_budget = profile.max_num_batched_tokens
        self.waiting: FcfsQueue | PriorityQueue = PriorityQueue() if scheduling == "priority" else FcfsQueue()
        self.it = 0
        self.running: dict[Request, None] = {}  # in order of admission
        self.prefilling: list[Request] = []
        self.n_dec = 0
        self.base_sum = 0
        self.residues = [0] * self.block
        self.ends: list[tuple[int, int, Request]] = []
        self.used_blocks = 0
        self.peak_blocks = 0
        self._tickets = 0
        self._arrivals = 0
        self.cache = PrefixCache(self.block, self.capacity) if prefix_caching else None

    # -- the runtime's side ----------------------------------------------------------------

    def add(
        self,
        handle: object,
        prompt_tokens: int,
        output_tokens: int,
        priority: int = 0,
        prefix: tuple[Segment, ...] = (),
    ) -> Request:
        """Queue a request whose prompt starts with the shared `prefix` segments; it must fit the
        KV cache on its own, as vLLM checks against max_model_len."""
        if prompt_tokens < 1 or output_tokens < 1:
            raise ParameterError("request", f"needs a prompt and an output, got {prompt_tokens} and {output_tokens}")
        if prompt_tokens + output_tokens > self.longest:
            raise ParameterError(
                "request",
                f"{prompt_tokens} prompt + {output_tokens} output tokens exceed the KV cache ({self.longest} tokens)",
            )
        if priority != 0 and self.scheduling != "priority":
            raise ParameterError("priority", f"Got priority {priority} but Priority scheduling is not enabled.")
        self._arrivals += 1
        request = Request(handle, prompt_tokens, output_tokens, priority, self._arrivals)
        if self.cache is not None:
            request.path = self.cache.path(prefix)
        self.waiting.add(request)
        return request

    def abort(self, request: Request) -> None:
        """Drop a request between steps (its client went away); its KV blocks are freed."""
        if request.state in (PREFILL, DECODE):
            self._release(request)
        request.aborted = True
        request.state = DONE

    def decoding(self) -> list[Request]:
        """Running requests past their prompt: each gets a token from every iteration."""
        return [r for r in self.running if r.state == DECODE]

    def kv_blocks_in_use(self) -> int:
        """KV blocks held by the running requests, recounted from scratch (a shared block once)."""
        total = 0
        for r in self.running:
            kv = r.base + self.it if r.state == DECODE else r.kv
            total += -(-kv // self.block)
            if r.path is not None:
                total -= r.path.held
        return total + (self.cache.held if self.cache is not None else 0)

    def plan(self, limit: int | None = None) -> Plan | None:
        """The next step (at most `limit` iterations), or None when there is nothing to do."""
        while self.running or self.waiting.peek() is not None:
            plan = self._plan_jump(limit)
            if plan is None:
                plan = self._schedule_step()
            if plan is not None:
                return plan
        return None

    def finish(self, plan: Plan, iterations: int | None = None) -> Outcome:
        """Apply the first `iterations` iterations of `plan` (all by default); a step with prompt work has one."""
        outcome = Outcome()
        if plan.jump:
            self._advance_decoders(plan.iterations if iterations is None else iterations, outcome)
        else:
            self._apply_step(plan.prefills, outcome)
        return outcome

    # -- steady decoding -------------------------------------------------------------------

    def _plan_jump(self, limit: int | None) -> Plan | None:
        n = self.n_dec
        if n == 0 or self.prefilling:
            return None
        free = self.capacity - self.used_blocks
        head = self.waiting.peek()
        if head is not None and n < self.seats:
            if self._admission(head, self.token_budget - n)[3] <= free - self.residues[-self.it % self.block]:
                return None
        ends = self.ends
        while ends[0][2].state != DECODE or ends[0][2].ticket != ends[0][1]:
            heapq.heappop(ends)
        horizon = ends[0][0] - self.it
        if limit is not None and limit < horizon:
            horizon = limit
        steps = horizon if (free // n) * self.block >= horizon else self._steps_within(free, horizon)
        if steps == 0:
            return None
        c = self._coefficients
        first = c.base + c.decode_seq * n + c.context_token * (self.base_sum + n * (self.it + 1))
        return Plan(steps, first, c.context_token * n, n, True)

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

    def _advance_decoders(self, steps: int, outcome: Outcome) -> None:
        block, residues, it = self.block, self.residues, self.it
        cycles, rest = divmod(steps, block)
        # Iteration it + t needs a block for the decoders of residue -(it + t) % block: over the
        # first `rest` iterations that is a run of residues going down from -it % block, wrapping.
        top = -it % block
        if rest <= top + 1:
            needed = sum(residues[top - rest + 1 : top + 1])
        else:
            needed = sum(residues[: top + 1]) + sum(residues[block - (rest - top - 1) :])
        self.it = it + steps
        self.used_blocks += cycles * self.n_dec + needed
        if self.cache is not None:
            self.cache.allocate(cycles * self.n_dec + needed)
        if self.used_blocks > self.peak_blocks:
            self.peak_blocks = self.used_blocks
        self._finish_decoders(outcome)

    def _finish_decoders(self, outcome: Outcome) -> None:
        ends, it = self.ends, self.it
        while ends and ends[0][0] <= it:
            _, ticket, r = heapq.heappop(ends)
            if r.state == DECODE and r.ticket == ticket:
                self._release(r)
                r.gen = r.out
                r.state = DONE
                outcome.finished.append(r)

    # -- one iteration with prompt work ----------------------------------------------------

    def _schedule_step(self) -> Plan | None:
        """The next iteration's prompt chunks, after preempting and admitting; None if it has no work."""
        block = self.block
        free = self.capacity - self.used_blocks - self.residues[-self.it % block]
        preempted: list[Request] = []
        chunks: dict[Request, int] = {}
        while free < 0:
            free += self._preempt(preempted, chunks)
        scheduled = 0
        for r in list(self.prefilling) if self.prefilling else ():
            budget = self.token_budget - self.n_dec - scheduled
            if r.state != PREFILL or budget <= 0:
                break
            need = r.target - r.kv
            if need > budget:
                need = budget
            blocks = -(-(r.kv + need) // block) - -(-r.kv // block)
            while blocks > free and r.state == PREFILL:
                free += self._preempt(preempted, chunks)
                scheduled = sum(chunks.values())
            if r.state != PREFILL:
                break
            chunks[r] = need
            scheduled += need
            free -= blocks
        cache = self.cache
        if cache is not None:
            # After the preemptions: a request preempted in this step computes nothing. A path
            # all cached already (or private after a duplicate) has nothing to add.
            for r, need in chunks.items():
                path = r.path
                if path.held < path.blocks and not path.dup:
                    cache.computed(path, r.kv + need)
        admitted: list[Request] = []
        if not preempted:
            budget = self.token_budget - self.n_dec - scheduled
            waiting, running, seats = self.waiting, self.running, self.seats
            while budget > 0 and len(running) < seats:
                r = waiting.peek()
                if r is None:
                    break
                hit, touched, need, blocks = self._admission(r, budget)
                if blocks > free:
                    break
                waiting.pop()
                r.target, r.kv, r.state = r.prompt + r.gen, hit * block, PREFILL
                if r.path is not None:
                    self.used_blocks += self.cache.admit(
                        r.path, r.target, hit, r.kv + need, first_time=r.preemptions == 0
                    )
                running[r] = None
                self.prefilling.append(r)
                admitted.append(r)
                chunks[r] = need
                free -= blocks
                budget -= need
        if cache is not None:
            taken = self.capacity - free - self.used_blocks
            if taken:
                cache.allocate(taken)
        self.used_blocks = self.capacity - free
        if self.used_blocks > self.peak_blocks:
            self.peak_blocks = self.used_blocks
        n = self.n_dec
        if not chunks and n == 0:
            return None
        tokens = square = 0
        for r, need in chunks.items():
            tokens += need
            square += need * (2 * r.kv + need)
        first = self._coefficients.iteration_time(tokens, square, n, self.base_sum + n * (self.it + 1))
        return Plan(1, first, 0.0, n + len(chunks), False, list(chunks.items()), admitted, preempted)

    def _apply_step(self, prefills: list[tuple[Request, int]], outcome: Outcome) -> None:
        self.it += 1
        self._finish_decoders(outcome)
        for r, need in prefills:
            r.kv += need
            if r.kv < r.target:
                continue
            r.gen += 1
            outcome.prefilled.append(r)
            if r.gen == r.out:
                self._release(r)
                r.state = DONE
                outcome.finished.append(r)
            else:
                self.prefilling.remove(r)
                self._add_decoder(r)

    # -- bookkeeping -----------------------------------------------------------------------

    def _add_decoder(self, r: Request) -> None:
        r.state = DECODE
        r.base = r.kv - self.it
        r.end = self.it + r.out - r.gen
        self.n_dec += 1
        self.base_sum += r.base
        self.residues[r.base % self.block] += 1
        self._tickets += 1
        r.ticket = self._tickets
        heapq.heappush(self.ends, (r.end, r.ticket, r))

    def _admission(self, r: Request, budget: int) -> tuple[int, int, int, int]:
        """What admitting `r` now takes: its cached blocks, how many of those are free, the prompt
        tokens it computes in this iteration, and the free blocks it needs."""
        target = r.prompt + r.gen
        hit = touched = 0
        if r.path is not None:
            hit, touched = self.cache.lookup(r.path, target)
        kv = hit * self.block
        need = target - kv if target - kv < budget else budget
        return hit, touched, need, -(-(kv + need) // self.block) - hit + touched

    def _release(self, r: Request, *, keep_own: bool = False) -> int:
        """Take a running request out of the batch; returns the KV blocks this frees."""
        del self.running[r]
        if r.state == DECODE:
            self.n_dec -= 1
            self.base_sum -= r.base
            self.residues[r.base % self.block] -= 1
            kv = r.base + self.it
        else:
            self.prefilling.remove(r)
            kv = r.kv
        if r.path is not None:
            freed = self.cache.release(r.path, kv, keep_own=keep_own)
        else:
            freed = -(-kv // self.block)
        self.used_blocks -= freed
        return freed

    def _preempt(self, preempted: list[Request], chunks: dict[Request, int]) -> int:
        """Preempt one running request; returns the KV blocks this frees for the iteration being planned."""
        if self.scheduling == "priority":
            victim = max(self.running, key=lambda r: (r.priority, r.arrival))
        else:
            victim = next(reversed(self.running))
        freed = 0
        if victim.state == DECODE:
            kv = victim.base + self.it
            victim.gen = victim.out - (victim.end - self.it)
            if kv % self.block == 0:
                freed += 1  # the block it would have needed in this iteration was counted as taken
        else:
            chunk = chunks.pop(victim, 0)
            freed += -(-(victim.kv + chunk) // self.block) - -(-victim.kv // self.block)
        freed += self._release(victim, keep_own=True)
        victim.state = WAITING
        victim.kv = 0
        victim.preemptions += 1
        preempted.append(victim)
        self.waiting.put_back(victim)
        return freed
