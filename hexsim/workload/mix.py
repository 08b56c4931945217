"""Mixed workloads: the queries of several workflows (CHESS, MAC-SQL, ...) in one arrival stream.

A mixed trace is an ordinary trace whose queries name their workflow (`Query.workflow`).
Everything downstream reads it like any other; what changes is the SLO: each workflow gets
its own base SLO (the `trace` rule over its own queries, see `hexsim.metrics.base_slo`), each
query is scheduled and counted against its workflow's, and reports break attainment and
latency down by workflow.

`mix_traces` makes one from traces of one workflow each: `count` queries, each workflow's
share its weight, in a seeded random order.
"""

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from hexsim.errors import ParameterError
from hexsim.workload.model import Call, Query, Stage


def workflow_names(queries: Iterable[Query]) -> list[str]:
    """The workflows the queries name, sorted; empty for a trace of one unnamed workflow."""
    return sorted({q.workflow for q in queries if q.workflow is not None})


def share_counts(count: int, weights: Mapping[str, float]) -> dict[str, int]:
    """`count` split by `weights` (positive), by largest remainder: each share is count x weight / total rounded
    down or up, the remainders going to the largest fractional parts (ties: the name first in order)."""
    total = sum(weights.values())
    exact = {name: count * w / total for name, w in weights.items()}
    counts = {name: int(e) for name, e in exact.items()}
    left = count - sum(counts.values())
    for name in sorted(exact, key=lambda n: (-(exact[n] - counts[n]), n))[:left]:
        counts[name] += 1
    return counts


def mix_traces(
    traces: Mapping[str, Sequence[Query]], count: int, weights: Mapping[str, float], seed: int
) -> list[Query]:
    """`count` queries of the workflows in `traces` (workflow name -> its queries), each workflow's number
    `share_counts(count, weights)`, in a random order drawn from `seed`.

    A workflow's queries are drawn without replacement until its trace is used up, then again
    (each round a new random order). Every query drawn names its workflow; its id, and the keys
    of the prefix segments no other query of its trace has (its own question, say), start with
    `WORKFLOW/` (traces of two workflows may use the same ids and keys) and end in `~k` for its
    k-th repeat, so no two queries of the mix share an id or a private segment. Segments several
    queries share stay shared. Arrival times are dropped: a mix gets them from an arrival process.
    """
    if set(weights) != set(traces):
        raise ParameterError("weights", f"weights for {sorted(weights)}, traces of {sorted(traces)}")
    if any(not w > 0 for w in weights.values()):
        raise ParameterError("weights", "every weight must be positive")
    counts = share_counts(count, weights)
    empty = sorted(name for name, n in counts.items() if n == 0)
    if empty:
        raise ParameterError(
            "queries", f"{count} queries leave none for workflow {empty[0]!r} at its weight: mix more queries"
        )
    rng = np.random.default_rng(seed)
    drawn: list[Query] = []
    for name in sorted(traces):
        queries = traces[name]
        private = _private_keys(queries)
        rounds = -(-counts[name] // len(queries))
        picks = np.concatenate([rng.permutation(len(queries)) for _ in range(rounds)])[: counts[name]]
        seen: Counter = Counter()
        for i in picks.tolist():
            drawn.append(_tagged(queries[i], name, seen[i], private))
            seen[i] += 1
    order = rng.permutation(len(drawn))
    return [drawn[i] for i in order.tolist()]


def _private_keys(queries: Sequence[Query]) -> set[str]:
    users = Counter(key for q in queries for key in {s.key for c in q.calls for s in c.prefix})
    return {key for key, n in users.items() if n == 1}


def _scoped(name: str, workflow: str, repeat: int) -> str:
    scoped = name if name.startswith(f"{workflow}/") else f"{workflow}/{name}"
    return f"{scoped}~{repeat}" if repeat else scoped


def _tagged(query: Query, workflow: str, repeat: int, private: set[str]) -> Query:
    stages = query.stages
    if any(s.key in private for c in query.calls for s in c.prefix):
        stages = tuple(Stage(tuple(_own_segments(c, workflow, repeat, private) for c in s.calls)) for s in stages)
    return replace(query, id=_scoped(query.id, workflow, repeat), stages=stages, arrival=None, workflow=workflow)


def _own_segments(call: Call, workflow: str, repeat: int, private: set[str]) -> Call:
    prefix = tuple(replace(s, key=_scoped(s.key, workflow, repeat)) if s.key in private else s for s in call.prefix)
    return replace(call, prefix=prefix)
