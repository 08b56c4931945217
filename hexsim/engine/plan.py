"""What the planner decides for the next engine step, and the arithmetic of steady decode stretches."""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from hexsim.engine.request import Request


@dataclass(slots=True)
class Plan:
    """The next engine step: `iterations` engine iterations, the first lasting `first` seconds and
    each later one `growth` longer (decoders' context grows by one token per iteration).

    A step with prompt work is one iteration computing the `prefills` chunks; a steady decode
    stretch (`jump`) is many. `admitted` and `preempted` happened as the step was planned (at its start).
    """

    iterations: int
    first: float
    growth: float
    batch: int
    jump: bool = False
    prefills: Sequence[tuple[Request, int]] = ()
    admitted: Sequence[Request] = ()
    preempted: Sequence[Request] = ()

    @property
    def prompt_tokens(self) -> int:
        return sum(chunk for _, chunk in self.prefills)

    def duration(self, iterations: int | None = None) -> float:
        """Time of the first `iterations` iterations (all of them by default)."""
        n = self.iterations if iterations is None else iterations
        return n * self.first + self.growth * n * (n - 1) / 2.0

    def iterations_by(self, elapsed: float) -> int:
        """The smallest m >= 1 whose first m iterations end at or after `elapsed`, at most all of them."""
        first, growth = self.first, self.growth
        if growth > 0:
            b = first - growth / 2.0
            m = math.ceil((-b + math.sqrt(b * b + 2.0 * growth * elapsed)) / growth)
        else:
            m = math.ceil(elapsed / first)
        m = max(m, 1)
        while self.duration(m) < elapsed:
            m += 1
        while m > 1 and self.duration(m - 1) >= elapsed:
            m -= 1
        return min(m, self.iterations)


@dataclass(slots=True)
class Outcome:
    """What a finished step produced: requests whose prompt (or recompute) it completed, each with a
    new token (their first when `gen == 1`), and requests done."""

    prefilled: list[Request] = field(default_factory=list)
    finished: list[Request] = field(default_factory=list)
