"""Throughput at an attainment target: the highest arrival rate that still meets it."""

from collections.abc import Callable


def max_rate(
    attainment_at: Callable[[float], float], target: float, start: float, rel_tol: float = 0.02, max_steps: int = 30
) -> float:
    """Highest rate r with attainment_at(r) >= target, to `rel_tol`: bracket by doubling or halving, then bisect.

    Assumes attainment falls as the rate rises (evaluate with common random numbers, e.g.
    one seed's inter-arrival gaps scaled by 1/r). Returns 0.0 if even start / 2**max_steps
    fails, and start * 2**max_steps if that still meets the target.

    Calls attainment_at at most 1 + max_steps + ceil(log2(1 / rel_tol)) times (37 by default),
    but how many depends on how far the answer lies from `start`: usually under a dozen.
    """
    if attainment_at(start) >= target:
        lo, hi = start, 2.0 * start
        for _ in range(max_steps):
            if attainment_at(hi) < target:
                break
            lo, hi = hi, 2.0 * hi
        else:
            return lo
    else:
        lo, hi = start / 2.0, start
        for _ in range(max_steps):
            if attainment_at(lo) >= target:
                break
            lo, hi = lo / 2.0, lo
        else:
            return 0.0
    while hi - lo > rel_tol * lo:
        mid = (lo + hi) / 2.0
        if attainment_at(mid) >= target:
            lo = mid
        else:
            hi = mid
    return lo
