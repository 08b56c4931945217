"""The report of a run: one dict (the `--json` output) and its rich table."""

import json
import math
from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.text import Text

from hexsim.metrics.base_slo import DESCRIPTIONS
from hexsim.metrics.records import CallRecord, QueryRecord, RunRecords
from hexsim.metrics.summary import (
    Slo,
    attainment,
    completed_percentiles,
    latency_deadline,
    prefix_cache,
    queue_wait_by_step,
    scale_deadline,
    scaled,
    utilisation,
)
from hexsim.metrics.tables import print_table


def json_seconds(value: float | None) -> float | None:
    """JSON-safe seconds: None for infinite or missing values, rounded to microseconds."""
    if value is None or math.isinf(value):
        return None
    return round(value, 6)


def deadline_summary(queries: Sequence[QueryRecord], base_slo: Slo, scales: Sequence[float]) -> dict:
    """Attainment at each SLO scale and the p95/p99 latency deadlines, in seconds and base SLOs.

    With a base SLO per workflow (a mixed trace), a query at scale x is held to x times its own
    workflow's, and the deadlines in base SLOs are the smallest scale that share of the queries
    meets so; the deadlines in seconds are still the smallest one SLO for all queries."""
    deadline95 = latency_deadline(queries, 0.95)
    deadline99 = latency_deadline(queries, 0.99)
    return {
        "attainment": {f"{s:g}": round(attainment(queries, scaled(base_slo, s)), 6) for s in scales},
        "deadline_p95_s": json_seconds(deadline95),
        "deadline_p95_scale": json_seconds(scale_deadline(queries, 0.95, base_slo)),
        "deadline_p99_s": json_seconds(deadline99),
        "deadline_p99_scale": json_seconds(scale_deadline(queries, 0.99, base_slo)),
    }


def latency_summary(queries: Sequence[QueryRecord], base_slo: Slo, scales: Sequence[float]) -> dict:
    """Attainment, deadlines, latency percentiles and completions of `queries`."""
    p50, p95, p99 = completed_percentiles(queries, (50, 95, 99))
    return {
        **deadline_summary(queries, base_slo, scales),
        "p50_s": json_seconds(p50),
        "p95_s": json_seconds(p95),
        "p99_s": json_seconds(p99),
        "completed": sum(1 for q in queries if q.finished is not None),
        "queries": len(queries),
    }


def by_workflow(queries: Sequence[QueryRecord], base_slo: Slo, summary) -> dict:
    """`{"workflows": {name: summary(its queries, its base SLO)}}` for a base SLO per workflow; else nothing."""
    if not isinstance(base_slo, Mapping):
        return {}
    return {"workflows": {name: summary([q for q in queries if q.workflow == name], b) for name, b in base_slo.items()}}


def policy_summary(run: RunRecords, base_slo: Slo, scales: Sequence[float]) -> dict:
    """A run's report: every query counted against `base_slo` (or its workflow's, with `workflows` then
    the summary of each workflow's queries alone)."""
    queries = run.queries
    return {
        **latency_summary(queries, base_slo, scales),
        "calls": len(run.calls),
        "preemptions": _total_preemptions(run.calls),
        "makespan_s": json_seconds(run.makespan),
        "utilisation": {name: round(u, 6) for name, u in utilisation(run).items()},
        "prefix_cache": prefix_cache(run.instances),
        "queue_wait": {
            step: {k: round(v, 6) for k, v in w.items()} for step, w in queue_wait_by_step(run.calls).items()
        },
        **by_workflow(queries, base_slo, lambda qs, b: latency_summary(qs, b, scales)),
    }


def _total_preemptions(calls: Sequence[CallRecord]) -> int | None:
    """Preemptions of all calls; None when a call's were not observed (a live run's client cannot see them)."""
    counts = [c.preemptions for c in calls]
    return None if None in counts else sum(counts)


def simulate_report(
    base_slo: float,
    slo_scale: float,
    summaries: Mapping[str, dict],
    setup: Mapping,
    base_slo_rule: str,
    workflows: Mapping[str, float] | None = None,
) -> dict:
    """The report of a run; `base_slo_rule` names how the base SLO was derived ("trace" or "chess"), `workflows`
    the base SLO of each workflow of a mixed trace."""
    return {
        "base_slo_s": round(base_slo, 6),
        "base_slo_rule": base_slo_rule,
        "slo_scale": slo_scale,
        **workflow_base_slos(workflows),
        "setup": dict(setup),
        "policies": dict(summaries),
    }


def workflow_base_slos(workflows: Mapping[str, float] | None) -> dict:
    """`{"workflows": {name: {"base_slo_s": ...}}}` for a mixed trace's workflows; else nothing."""
    if not workflows:
        return {}
    return {"workflows": {name: {"base_slo_s": round(b, 6)} for name, b in workflows.items()}}


def report_json(report: dict) -> str:
    return json.dumps(report, indent=2, allow_nan=False)


def seconds(value: float | None) -> str:
    """Seconds as the tables print them; - where the run gives none (too many queries never finished)."""
    return "-" if value is None else f"{value:.1f}"


def times_base(value: float | None) -> str:
    """A multiple of the base SLO as the tables print it."""
    return "-" if value is None else f"{value:.2f}x"


def describe_config(config: Mapping) -> str:
    """A [scheduler] table as a line: `policy hexgen, alpha 0.5, beta 10, eps 1, max_running 0`."""
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in config.items())


def describe_base_slo(base_slo: float, rule: str, instances: str) -> str:
    """`Base SLO 57.2 s (chess): a standard CHESS workflow alone, averaged over the 4 instances`."""
    return f"Base SLO {base_slo:.1f} s ({rule}): {DESCRIPTIONS[rule]}, averaged over {instances}"


DEADLINE_LEGEND = (
    "deadline pN: the smallest SLO that N% of the queries meet (- when more than 100-N% never finished); "
    "x base: the same in base SLOs."
)
WORKFLOW_DEADLINE_LEGEND = (
    "deadline pN: the smallest SLO that N% of the queries meet (- when more than 100-N% never finished); "
    "x base: the smallest multiple of its own workflow's base SLO that N% of the queries meet."
)


def describe_workflows(workflows: Mapping[str, float]) -> str:
    """`Mixed workflows, each query held to its own workflow's base SLO (...): chess 76.0 s, macsql 4.1 s`."""
    shown = ", ".join(f"{name} {b:.1f} s" for name, b in workflows.items())
    return f"Mixed workflows, each query held to its own workflow's base SLO (the same rule over its queries): {shown}"


def workflow_rows(scales: Sequence[str]) -> list:
    """The rows of one workflow's table: every number of its summary (`latency_summary`)."""
    return [
        *((f"attainment at {s}x", lambda p, s=s: f"{p['attainment'][s]:.1%}") for s in scales),
        ("deadline p95 (s)", lambda p: seconds(p["deadline_p95_s"])),
        ("deadline p95 (x base)", lambda p: times_base(p["deadline_p95_scale"])),
        ("deadline p99 (s)", lambda p: seconds(p["deadline_p99_s"])),
        ("deadline p99 (x base)", lambda p: times_base(p["deadline_p99_scale"])),
        ("latency p50 (s)", lambda p: seconds(p["p50_s"])),
        ("latency p95 (s)", lambda p: seconds(p["p95_s"])),
        ("latency p99 (s)", lambda p: seconds(p["p99_s"])),
        ("completed queries", lambda p: f"{p['completed']}/{p['queries']}"),
    ]


def render_report(report: dict, console: Console) -> None:
    """The report as tables, policies side by side: every number of the JSON report."""
    base, scale, setup = report["base_slo_s"], report["slo_scale"], report["setup"]
    policies = report["policies"]
    names = list(policies)
    console.print(Text(f"{setup['trace']} on {setup['cluster']}, {setup['arrivals']}, seed {setup['seed']}"))
    console.print(Text(describe_base_slo(base, report["base_slo_rule"], f"the {setup['instances']} instances")))
    workflows = {name: w["base_slo_s"] for name, w in report.get("workflows", {}).items()}
    if workflows:
        console.print(Text(describe_workflows(workflows)))
    console.print()
    scales = list(policies[names[0]]["attainment"])
    bases = workflows or {"SLO": base}
    print_table(
        console,
        "SLO attainment: share of queries within the SLO" + (" of their workflow" if workflows else ""),
        ["SLO scale", *(f"{w} (s)" for w in bases), *names],
        [
            [
                f"{s}x",
                *(f"{float(s) * b:.1f}" for b in bases.values()),
                *(f"{policies[n]['attainment'][s]:.1%}" for n in names),
            ]
            for s in scales
        ],
        keys=1 + len(bases),
    )
    rows = [
        *workflow_rows([f"{scale:g}"]),
        ("calls", lambda p: str(p["calls"])),
        ("preemptions", lambda p: "-" if p["preemptions"] is None else str(p["preemptions"])),
        ("makespan (s)", lambda p: seconds(p["makespan_s"])),
    ]
    print_table(
        console,
        f"Latency and completion at SLO scale {scale:g} "
        + ("(each query's workflow's SLO)" if workflows else f"({scale * base:.1f} s)"),
        ["", *names],
        [[label, *(cell(policies[n]) for n in names)] for label, cell in rows],
        legend=[
            WORKFLOW_DEADLINE_LEGEND if workflows else DEADLINE_LEGEND,
            "latency pN: percentile of the completed queries' end-to-end latency.",
        ],
    )
    for workflow, workflow_base in workflows.items():
        of = {n: policies[n]["workflows"][workflow] for n in names}
        print_table(
            console,
            f"Workflow {workflow}: {of[names[0]]['queries']} queries, base SLO {workflow_base:.1f} s",
            ["", *names],
            [[label, *(cell(of[n]) for n in names)] for label, cell in workflow_rows(scales)],
        )
    # A live run's client sees neither the engines' iterations nor admissions: those tables stay out.
    instances = list(policies[names[0]]["utilisation"])
    if instances:
        print_table(
            console,
            "Instance utilisation: share of the run spent running iterations",
            ["instance", *names],
            [[i, *(f"{policies[n]['utilisation'][i]:.0%}" for n in names)] for i in instances],
        )
    cached = list(policies[names[0]]["prefix_cache"])
    if cached:
        caches = {n: policies[n]["prefix_cache"] for n in names}
        print_table(
            console,
            "Prefix cache: share of new requests' prompt tokens found cached",
            ["instance", *names],
            [[i, *(hit_rate(caches[n][i]) for n in names)] for i in cached],
        )
        print_table(
            console,
            "Prompt tokens computed / requested (millions)",
            ["instance", *names],
            [[i, *(computed_of_requested(caches[n][i]) for n in names)] for i in cached],
        )
    steps = sorted({step for n in names for step in policies[n]["queue_wait"]})
    for stat, what in (("mean_s", "mean"), ("p95_s", "P95")) if steps else ():
        print_table(
            console,
            f"Queue wait per step, {what} (s): dispatch to admission by the engine",
            ["step", *names],
            [[step, *(_wait(policies[n]["queue_wait"], step, stat) for n in names)] for step in steps],
        )


def hit_rate(cache: Mapping[str, object]) -> str:
    return share(cache["hit_rate"])


def share(value: float | None) -> str:
    """A share as the tables print it; - where there is none."""
    return "-" if value is None else f"{value:.1%}"


def computed_of_requested(cache: Mapping[str, int]) -> str:
    return f"{cache['computed'] / 1e6:.2f}/{cache['requested'] / 1e6:.2f}"


def _wait(waits: Mapping[str, Mapping[str, float]], step: str, stat: str) -> str:
    """Queue waits are often well under a second: two decimals."""
    return f"{waits[step][stat]:.2f}" if step in waits else "-"
