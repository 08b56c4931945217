"""Sustained load drawn from a finite trace: any number of its queries, resampled, arriving at a rate.

A trace of a few hundred queries replayed at a high rate is one burst that a cluster may
absorb within the SLO however high the rate. A throughput search needs a load that lasts:
`sustained_sample` draws `count` queries with replacement from the trace and gives them
arrival times of a renewal process at `rate`.

Both random streams come from `seed` alone and are drawn in fixed blocks, so the first k
queries and gaps are the same whatever `count` is: a longer sample at a higher rate extends
a shorter one, and the gaps of one seed are the same at every rate, scaled by 1 / rate (the
common random numbers a search over rates wants).
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from hexsim.errors import ParameterError
from hexsim.workload.model import Call, Query, Stage

_BLOCK = 4096
_PICKS, _GAPS = 1, 2  # stream numbers under the seed


def _blocks(seed: int, stream: int, count: int, draw) -> np.ndarray:
    rng = np.random.default_rng([seed, stream])
    parts = [draw(rng, _BLOCK) for _ in range(-(-count // _BLOCK))]
    return np.concatenate(parts)[:count] if parts else np.zeros(0)


def unit_gaps(process: str, count: int, seed: int, cv: float = 2.0) -> np.ndarray:
    """`count` inter-arrival gaps of mean 1: exponential (`poisson`) or Gamma with coefficient of variation `cv`."""
    if process == "poisson":
        return _blocks(seed, _GAPS, count, lambda rng, n: rng.standard_exponential(n))
    if process == "gamma":
        if not cv > 0:
            raise ParameterError("cv", f"coefficient of variation must be positive, got {cv!r}")
        shape = 1.0 / (cv * cv)
        return _blocks(seed, _GAPS, count, lambda rng, n: rng.standard_gamma(shape, n) / shape)
    raise ParameterError(
        "arrivals", f"sustained load needs a poisson or gamma arrival process to draw at any rate, got {process!r}"
    )


def _private_keys(queries: Sequence[Query]) -> set[str]:
    """Prefix segments only one query of the trace uses (its own question, say): each copy gets its own."""
    users = Counter(key for q in queries for key in {s.key for c in q.calls for s in c.prefix})
    return {key for key, n in users.items() if n == 1}


def _copy(query: Query, k: int, private: set[str], arrival: float) -> Query:
    """Copy `k` of `query`: its own id and its own private prefix segments; shared segments stay shared."""
    stages = query.stages
    if private and any(s.key in private for c in query.calls for s in c.prefix):
        stages = tuple(Stage(tuple(_own_segments(c, k, private) for c in stage.calls)) for stage in query.stages)
    return replace(query, id=f"{query.id}~{k}", stages=stages, arrival=arrival)


def _own_segments(call: Call, k: int, private: set[str]) -> Call:
    prefix = tuple(replace(s, key=f"{s.key}~{k}") if s.key in private else s for s in call.prefix)
    return replace(call, prefix=prefix)


def sustained_sample(
    queries: Sequence[Query], count: int, process: str, rate: float, seed: int, cv: float = 2.0
) -> list[Query]:
    """`count` queries drawn with replacement from `queries`, arriving at `rate` (queries/s) from `process`."""
    if not queries:
        raise ParameterError("queries", "sustained load needs a trace with at least one query")
    if not rate > 0 or rate == float("inf"):
        raise ParameterError("rate", f"arrival rate must be a positive number of queries/s, got {rate!r}")
    gaps = unit_gaps(process, count, seed, cv)
    picks = _blocks(seed, _PICKS, count, lambda rng, n: rng.integers(0, len(queries), n))
    times = np.cumsum(gaps) / rate
    private = _private_keys(queries)
    return [_copy(queries[int(i)], k, private, float(t)) for k, (i, t) in enumerate(zip(picks, times, strict=True))]
