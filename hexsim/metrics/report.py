"""The report of a run: one dict (the `--json` output) and its rich table."""

import json
import math
from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.text import Text

from hexsim.metrics.base_slo import DESCRIPTIONS
from hexsim.metrics.records import CallRecord, QueryRecord, RunRecords
from hexsim.metrics.summary import (
    attainment,
    completed_percentiles,
    latency_deadline,
    prefix_cache,
    queue_wait_by_step,
    utilisation,
)
from hexsim.metrics.tables import print_table


def json_seconds(value: float | None) -> float | None:
    """JSON-safe seconds: None for infinite or missing values, rounded to microseconds."""
    if value is None or math.isinf(value):
        return None
    return round(value, 6)


def deadline_summary(queries: Sequence[QueryRecord], base_slo: float, scales: Sequence[float]) -> dict:
    """Attainment at each SLO scale and the p95/p99 latency deadlines, in seconds and base SLOs."""
    deadline95 = latency_deadline(queries, 0.95)
    deadline99 = latency_deadline(queries, 0.99)
    return {
        "attainment": {f"{s:g}": round(attainment(queries, s * base_slo), 6) for s in scales},
        "deadline_p95_s": json_seconds(deadline95),
        "deadline_p95_scale": json_seconds(deadline95 / base_slo),
        "deadline_p99_s": json_seconds(deadline99),
        "deadline_p99_scale": json_seconds(deadline99 / base_slo),
    }


def policy_summary(run: RunRecords, base_slo: float, scales: Sequence[float]) -> dict:
    queries = run.queries
    p50, p95, p99 = completed_percentiles(queries, (50, 95, 99))
    return {
        **deadline_summary(queries, base_slo, scales),
        "p50_s": json_seconds(p50),
        "p95_s": json_seconds(p95),
        "p99_s": json_seconds(p99),
        "completed": sum(1 for q in queries if q.finished is not None),
        "queries": len(queries),
        "calls": len(run.calls),
        "preemptions": _total_preemptions(run.calls),
        "makespan_s": json_seconds(run.makespan),
        "utilisation": {name: round(u, 6) for name, u in utilisation(run).items()},
        "prefix_cache": prefix_cache(run.instances),
        "queue_wait": {
            step: {k: round(v, 6) for k, v in w.items()} for step, w in queue_wait_by_step(run.calls).items()
        },
    }


def _total_preemptions(calls: Sequence[CallRecord]) -> int | None:
    """Preemptions of all calls; None when a call's were not observed (a live run's client cannot see them)."""
    counts = [c.preemptions for c in calls]
    return None if None in counts else sum(counts)


def simulate_report(
    base_slo: float, slo_scale: float, summaries: Mapping[str, dict], setup: Mapping, base_slo_rule: str
) -> dict:
    """The report of a run; `base_slo_rule` names how the base SLO was derived ("trace" or "chess")."""
    return {
        "base_slo_s": round(base_slo, 6),
        "base_slo_rule": base_slo_rule,
        "slo_scale": slo_scale,
        "setup": dict(setup),
        "policies": dict(summaries),
    }


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


def render_report(report: dict, console: Console) -> None:
    """The report as tables, policies side by side: every number of the JSON report."""
    base, scale, setup = report["base_slo_s"], report["slo_scale"], report["setup"]
    policies = report["policies"]
    names = list(policies)
    console.print(Text(f"{setup['trace']} on {setup['cluster']}, {setup['arrivals']}, seed {setup['seed']}"))
    console.print(Text(describe_base_slo(base, report["base_slo_rule"], f"the {setup['instances']} instances")))
    console.print()
    scales = list(policies[names[0]]["attainment"])
    print_table(
        console,
        "SLO attainment: share of queries within the SLO",
        ["SLO scale", "SLO (s)", *names],
        [[f"{s}x", f"{float(s) * base:.1f}", *(f"{policies[n]['attainment'][s]:.1%}" for n in names)] for s in scales],
        keys=2,
    )
    rows = [
        (f"attainment at {scale:g}x", lambda p: f"{p['attainment'][f'{scale:g}']:.1%}"),
        ("deadline p95 (s)", lambda p: seconds(p["deadline_p95_s"])),
        ("deadline p95 (x base)", lambda p: times_base(p["deadline_p95_scale"])),
        ("deadline p99 (s)", lambda p: seconds(p["deadline_p99_s"])),
        ("deadline p99 (x base)", lambda p: times_base(p["deadline_p99_scale"])),
        ("latency p50 (s)", lambda p: seconds(p["p50_s"])),
        ("latency p95 (s)", lambda p: seconds(p["p95_s"])),
        ("latency p99 (s)", lambda p: seconds(p["p99_s"])),
        ("completed queries", lambda p: f"{p['completed']}/{p['queries']}"),
        ("calls", lambda p: str(p["calls"])),
        ("preemptions", lambda p: "-" if p["preemptions"] is None else str(p["preemptions"])),
        ("makespan (s)", lambda p: seconds(p["makespan_s"])),
    ]
    print_table(
        console,
        f"Latency and completion at SLO scale {scale:g} ({scale * base:.1f} s)",
        ["", *names],
        [[label, *(cell(policies[n]) for n in names)] for label, cell in rows],
        legend=[DEADLINE_LEGEND, "latency pN: percentile of the completed queries' end-to-end latency."],
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
