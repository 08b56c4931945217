"""Arrival processes: Poisson, Gamma (bursty, by coefficient of variation), or the trace's own."""

import numpy as np

from hexsim.defaults import ARRIVAL_PROCESSES
from hexsim.errors import ParameterError
from hexsim.workload.model import Query


def poisson_arrivals(rate: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Arrival times of a Poisson process at `rate` queries/s, the first at one gap after 0."""
    return np.cumsum(rng.exponential(1.0 / rate, size=n))


def gamma_arrivals(rate: float, cv: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Renewal process with Gamma gaps of mean 1/rate and coefficient of variation `cv`."""
    shape = 1.0 / (cv * cv)
    return np.cumsum(rng.gamma(shape, 1.0 / (rate * shape), size=n))


def with_arrivals(
    queries: list[Query], process: str, rate: float | None, rng: np.random.Generator, cv: float = 2.0
) -> list[Query]:
    """Queries with arrival times from `process`, in arrival order."""
    if process == "trace":
        missing = [q.id for q in queries if q.arrival is None]
        if missing:
            raise ParameterError("arrivals", f"trace arrivals: query {missing[0]!r} has no 'arrival' field")
        return sorted(queries, key=lambda q: q.arrival)
    if process not in ARRIVAL_PROCESSES:
        known = ", ".join(ARRIVAL_PROCESSES)
        raise ParameterError("arrivals", f"unknown arrival process {process!r} (expected one of {known})")
    if rate is None or not rate > 0:
        raise ParameterError("rate", f"arrival rate must be a positive number of queries/s, got {rate!r}")
    if process == "poisson":
        times = poisson_arrivals(rate, len(queries), rng)
    else:
        if not cv > 0:
            raise ParameterError("cv", f"coefficient of variation must be positive, got {cv!r}")
        times = gamma_arrivals(rate, cv, len(queries), rng)
    return [q.with_arrival(float(t)) for q, t in zip(queries, times, strict=True)]
