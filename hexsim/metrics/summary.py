"""Attainment, latency deadlines, percentiles, utilisation, prefix cache hits and queue waits of one run."""

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from hexsim.metrics.records import CallRecord, InstanceRecord, QueryRecord, RunRecords

DEFAULT_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0)

# Seconds: one for every query, or one per workflow of a mixed trace (a query's is its workflow's).
Slo = float | Mapping[str, float]


def slo_of(query: QueryRecord, slo: Slo) -> float:
    """The query's own of `slo`: `slo` itself, or its workflow's entry."""
    return slo[query.workflow] if isinstance(slo, Mapping) else slo


def scaled(slo: Slo, scale: float) -> Slo:
    """`slo` times `scale`, workflow by workflow."""
    return {w: scale * s for w, s in slo.items()} if isinstance(slo, Mapping) else scale * slo


def attainment(queries: Sequence[QueryRecord], slo: Slo) -> float:
    """Share of queries whose end-to-end latency is at most their SLO (seconds; `slo` or, per workflow, its
    workflow's); unfinished queries are misses."""
    if not queries:
        return 0.0
    if isinstance(slo, Mapping):
        return sum(1 for q in queries if q.latency <= slo[q.workflow]) / len(queries)
    return sum(1 for q in queries if q.latency <= slo) / len(queries)


def latency_deadline(queries: Sequence[QueryRecord], share: float) -> float:
    """Smallest SLO (seconds) that at least `share` of the queries meet; inf if none does."""
    if not queries:
        return math.inf
    latencies = sorted(q.latency for q in queries)
    return latencies[max(math.ceil(share * len(latencies) - 1e-9), 1) - 1]


def scale_deadline(queries: Sequence[QueryRecord], share: float, base_slo: Slo) -> float:
    """Smallest SLO scale x that at least `share` of the queries meet, each query's SLO x times its base SLO
    (`base_slo`, or its workflow's); inf if none does. With one base SLO: latency_deadline / base_slo."""
    if not isinstance(base_slo, Mapping):
        return latency_deadline(queries, share) / base_slo
    if not queries:
        return math.inf
    scales = sorted(q.latency / base_slo[q.workflow] for q in queries)
    return scales[max(math.ceil(share * len(scales) - 1e-9), 1) - 1]


def completed_percentiles(queries: Iterable[QueryRecord], ps: Sequence[float]) -> list[float | None]:
    """Percentiles (0-100) of the end-to-end latency of the queries that finished."""
    done = [q.latency for q in queries if q.finished is not None]
    if not done:
        return [None for _ in ps]
    return [float(v) for v in np.percentile(done, ps)]


def utilisation(run: RunRecords) -> dict[str, float]:
    """Share of the run's duration each instance spent executing iterations."""
    span = run.makespan
    return {inst.name: (inst.busy_time / span if span > 0 else 0.0) for inst in run.instances}


def prefix_cache(instances: Iterable[InstanceRecord]) -> dict[str, dict]:
    """Per instance, and over "all": prompt tokens of new requests looked up in the prefix cache
    (`requested`, vLLM's prefix_cache_queries), those not found there and so `computed`, and the
    `hit_rate` (vLLM's prefix_cache_hits over its queries; None when nothing was looked up).
    Records of several runs are summed by instance name."""
    totals: dict[str, list[int]] = {}
    for inst in instances:
        total = totals.setdefault(inst.name, [0, 0])
        total[0] += inst.prefix_queries
        total[1] += inst.prefix_hits
    if totals:
        totals["all"] = [sum(t[0] for t in totals.values()), sum(t[1] for t in totals.values())]
    return {
        name: {
            "requested": requested,
            "computed": requested - cached,
            "hit_rate": round(cached / requested, 6) if requested else None,
        }
        for name, (requested, cached) in totals.items()
    }


def queue_wait_by_step(calls: Iterable[CallRecord]) -> dict[str, dict[str, float]]:
    """Mean and P95 queue wait (dispatch to first admission) per step type."""
    waits: dict[str, list[float]] = defaultdict(list)
    for call in calls:
        if call.queue_wait is not None:
            waits[call.step].append(call.queue_wait)
    return {
        step: {"mean_s": float(np.mean(w)), "p95_s": float(np.percentile(w, 95))} for step, w in sorted(waits.items())
    }
