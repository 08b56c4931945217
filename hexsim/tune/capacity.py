"""What-if capacity planning: the cheapest cluster whose attainment meets a target.

Candidate clusters are every mix of up to `max_per_type` instances of each GPU type (each at
the smallest TP that serves the model). They are simulated in order of price, so the first
one that meets the target is the cheapest; the search goes on until it has found a few
runners-up.
"""

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from hexsim.cluster import MAX_INSTANCES, ClusterSpec, InstanceSpec
from hexsim.errors import ParameterError
from hexsim.experiment import Experiment
from hexsim.profiles.gpus import canonical_gpu
from hexsim.profiles.latency import Profile
from hexsim.resources import bundled_dir
from hexsim.tomlfile import Table, read_toml
from hexsim.tune.objective import score

# Each candidate is simulated until enough of them meet the target; the mixes are listed first.
MAX_CANDIDATES = 100_000


@dataclass(frozen=True)
class Candidate:
    counts: tuple[int, ...]  # instances per GPU type, in the order of the types
    price_per_hour: float
    attainment: float | None = None

    def describe(self, types: Sequence[Profile]) -> str:
        return " + ".join(f"{n} x {p.gpu} (TP {p.tp})" for n, p in zip(self.counts, types, strict=True) if n)


def load_prices(path: str | Path | None = None) -> dict[str, float]:
    path = path or bundled_dir("profiles") / "prices.toml"
    table = Table(read_toml(path), path)
    prices = {}
    for name in table.data:
        gpu = canonical_gpu(name, f"{path}: key '{name}'")
        prices[gpu] = table.get(name, (int, float), check=lambda v: v >= 0, rule="a non-negative number")
    return prices


def candidates(types: Sequence[Profile], prices: Mapping[str, float], max_per_type: int) -> list[Candidate]:
    """Every non-empty mix, cheapest first (ties: fewer instances, then more of the earlier types)."""
    if max_per_type * len(types) > MAX_INSTANCES:
        raise ParameterError(
            "max_per_type",
            f"{max_per_type} of each of {len(types)} GPU types make clusters of up to {max_per_type * len(types)} "
            f"instances; hexsim simulates at most {MAX_INSTANCES}",
        )
    if (max_per_type + 1) ** len(types) > MAX_CANDIDATES:
        raise ParameterError(
            "max_per_type",
            f"{max_per_type} of each of {len(types)} GPU types make {(max_per_type + 1) ** len(types) - 1} mixes to "
            f"consider; at most {MAX_CANDIDATES} are (fewer types or a lower maximum)",
        )
    for profile in types:
        if profile.gpu not in prices:
            raise ParameterError("prices", f"no price for GPU {profile.gpu!r}")
    hourly = [prices[p.gpu] * p.tp for p in types]
    mixes = [c for c in itertools.product(range(max_per_type + 1), repeat=len(types)) if any(c)]
    found = [Candidate(c, sum(n * h for n, h in zip(c, hourly, strict=True))) for c in mixes]
    return sorted(found, key=lambda c: (c.price_per_hour, sum(c.counts), tuple(-n for n in c.counts)))


def cluster_of(model: str, types: Sequence[Profile], counts: Sequence[int]) -> ClusterSpec:
    instances = [InstanceSpec(f"{p.gpu.lower()}-{i}", p) for p, n in zip(types, counts, strict=True) for i in range(n)]
    return ClusterSpec(model, tuple(instances))


def plan_capacity(
    experiment: Experiment,
    types: Sequence[Profile],
    prices: Mapping[str, float],
    max_per_type: int,
    runners_up: int = 3,
    on_candidate: Callable[[Candidate], None] = lambda c: None,
) -> list[Candidate]:
    """Evaluated candidates in price order, up to the cheapest feasible one and `runners_up` more.

    Each candidate replaces the experiment's cluster; the SLO stays the experiment's for all of
    them (callers use the base SLO over one instance of each GPU type).
    """
    evaluated = []
    feasible = 0
    model = experiment.cluster.model
    for candidate in candidates(types, prices, max_per_type):
        sized = replace(experiment, cluster=cluster_of(model, types, candidate.counts))
        result = replace(candidate, attainment=score(sized))
        evaluated.append(result)
        on_candidate(result)
        feasible += result.attainment >= experiment.target
        if feasible > runners_up:
            break
    return evaluated
