"""Throughput at an attainment target: the highest arrival rate that still meets it."""

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Throughput:
    """The highest rate found to meet the target, or a bound where the search stopped at its limits.

    `bound` is None when `rate` meets the target and a rate `rel_tol` higher does not;
    "at_least" when `rate`, the search's cap, still meets it (the throughput is at least
    `rate`); "at_most" when `rate`, the search's floor, misses it already (the throughput is
    below `rate`).
    """

    rate: float
    bound: str | None = None

    def describe(self, digits: int = 4) -> str:
        """`0.0512`, `at least 12.5000` or `below 0.0001`."""
        shown = f"{self.rate:.{digits}f}"
        return {"at_least": f"at least {shown}", "at_most": f"below {shown}"}.get(self.bound, shown)


def max_rate(
    attainment_at: Callable[[float], float],
    target: float,
    start: float,
    rel_tol: float = 0.02,
    max_steps: int = 30,
    cap: float = math.inf,
    floor: float = 0.0,
) -> Throughput:
    """Highest rate r with attainment_at(r) >= target, to `rel_tol`: bracket by doubling or halving, then bisect.

    Assumes attainment falls as the rate rises (evaluate with common random numbers, e.g.
    one seed's inter-arrival gaps scaled by 1/r). Rates above `cap` are never tried: if `cap`
    (or start * 2**max_steps) still meets the target, the answer is that rate as a lower
    bound ("at_least"). Rates below `floor` are never tried either: if the lowest rate tried,
    `floor` or start / 2**max_steps, misses the target, the answer is that rate as an upper
    bound ("at_most").

    Calls attainment_at at most 1 + max_steps + ceil(log2(1 / rel_tol)) times (37 by default),
    but how many depends on how far the answer lies from `start`: usually under a dozen.
    """
    start = min(max(start, floor), cap)
    if attainment_at(start) >= target:
        lo = start
        for _ in range(max_steps):
            if lo >= cap:
                return Throughput(lo, "at_least")
            hi = min(2.0 * lo, cap)
            if attainment_at(hi) < target:
                break
            lo = hi
        else:
            return Throughput(lo, "at_least")
    else:
        hi = start
        for _ in range(max_steps):
            if hi <= floor:
                return Throughput(hi, "at_most")
            lo = max(hi / 2.0, floor)
            if attainment_at(lo) >= target:
                break
            hi = lo
        else:
            return Throughput(hi, "at_most")
    while hi - lo > rel_tol * lo:
        mid = (lo + hi) / 2.0
        if attainment_at(mid) >= target:
            lo = mid
        else:
            hi = mid
    return Throughput(lo)
