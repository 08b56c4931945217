"""The base SLO that SLO scales multiply: how long a query takes alone on the cluster.

Two rules (`BASE_SLO_RULES` in `hexsim.defaults`):

- `trace` (the default): the trace's own workflow. A query's standalone latency on one
  instance is the sum over its stages of the stage's longest call alone (parallel calls
  count by their max, as the query waits for them); the base SLO is the mean of that over
  the trace's queries and the cluster's instances serving the model (each instance counted,
  so a type with two instances weighs twice). A trace of 10-second queries gets a
  10-second base SLO.
- `chess`: the standalone latency of a standard CHESS workflow (`STANDARD_CHESS_WORKFLOW`),
  averaged over the same instances: the paper's yardstick, whatever the trace.

On the paper's cluster with the shipped profiles the standard CHESS workflow takes 57.2 s;
the trace rule gives 61.0 s on chess_bird_trace1 (the trace whose mean step lengths the
standard lists): its candidate stage waits for the longest of its parallel candidates
(+5.4 s against one mean candidate) and evaluation likewise (+0.8 s), against 3.7 revise
rounds instead of 4 (-1.2 s) and keyword extraction in two queries out of three (-0.5 s).
Traces with more or longer revise rounds get more: 76.0 s on the bundled trace, 80-83 s on
chess_bird_trace2 and 3.

A mixed trace (queries of several workflows, `hexsim.workload.mix`) gets a base SLO per
workflow, by the same rule over that workflow's queries alone: a 3-call MAC-SQL query is held
to a few seconds, a CHESS query beside it to a minute. Its overall base SLO is still the rule
over all its queries (under `trace`, the workflows' base SLOs weighted by their queries).
"""

from collections.abc import Iterable, Sequence

from hexsim.errors import ParameterError
from hexsim.profiles.latency import Profile
from hexsim.workload.mix import workflow_names
from hexsim.workload.model import Query

# (step, input tokens, output tokens, calls in sequence); the parallel candidate stage counts once.
STANDARD_CHESS_WORKFLOW = (
    ("Information Retriever", 308, 5, 4),
    ("extract_keywords", 667, 45, 1),
    ("generate_candidate", 11748, 678, 1),
    ("revise", 5963, 79, 4),
    ("unit_tester", 275, 4, 3),
    ("generate_unit_test", 1109, 103, 1),
    ("evaluate", 961, 22, 1),
)

DESCRIPTIONS = {
    "trace": "the mean standalone latency of the trace's queries",
    "chess": "a standard CHESS workflow alone",
}


def workflow_time(profile: Profile) -> float:
    return sum(n * profile.standalone_time(i, o) for _, i, o, n in STANDARD_CHESS_WORKFLOW)


def base_slo(profiles: Iterable[Profile]) -> float:
    """The `chess` rule: mean over the instances (each counted) of the standard workflow's time."""
    times = [workflow_time(p) for p in profiles]
    return sum(times) / len(times)


def query_time(query: Query, profile: Profile) -> float:
    """A query's latency alone on one instance: its stages in turn, each as long as its longest call."""
    return sum(
        max(profile.standalone_time(c.input_tokens, c.output_tokens) for c in stage.calls) for stage in query.stages
    )


def trace_base_slo(queries: Sequence[Query], profiles: Iterable[Profile]) -> float:
    """The `trace` rule: mean over the queries and the instances (each counted) of the query's standalone time."""
    profiles = list(profiles)
    if not queries:
        raise ParameterError("base_slo", "the trace rule needs a trace with at least one query")
    return sum(query_time(q, p) for q in queries for p in profiles) / (len(queries) * len(profiles))


def cluster_base_slo(cluster, queries: Sequence[Query], rule: str) -> float:
    """The base SLO of `rule` ('trace' or 'chess') on the instances of `cluster` that serve its model."""
    profiles = [inst.profile for inst in cluster.instances if inst.model == cluster.model]
    if rule == "trace":
        return trace_base_slo(queries, profiles)
    if rule == "chess":
        return base_slo(profiles)
    raise ParameterError("base_slo", f"unknown base SLO rule {rule!r} (expected trace or chess)")


def workflow_base_slos(cluster, queries: Sequence[Query], rule: str) -> dict[str, float]:
    """The base SLO of `rule` of each workflow of a mixed trace, over its own queries; empty for a trace of one."""
    names = workflow_names(queries)
    if len(names) < 2:
        return {}
    return {name: cluster_base_slo(cluster, [q for q in queries if q.workflow == name], rule) for name in names}
