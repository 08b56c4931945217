"""The report of a run: one dict (the `--json` output) and its rich table."""

import json
import math
from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.table import Table

from hexsim.metrics.records import QueryRecord, RunRecords
from hexsim.metrics.summary import (
    attainment,
    completed_percentiles,
    latency_deadline,
    queue_wait_by_step,
    utilisation,
)


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
        "preemptions": sum(c.preemptions for c in run.calls),
        "makespan_s": json_seconds(run.makespan),
        "utilisation": {name: round(u, 6) for name, u in utilisation(run).items()},
        "queue_wait": {
            step: {k: round(v, 6) for k, v in w.items()} for step, w in queue_wait_by_step(run.calls).items()
        },
    }


def simulate_report(base_slo: float, slo_scale: float, summaries: Mapping[str, dict], setup: Mapping) -> dict:
    return {
        "base_slo_s": round(base_slo, 6),
        "slo_scale": slo_scale,
        "setup": dict(setup),
        "policies": dict(summaries),
    }


def report_json(report: dict) -> str:
    return json.dumps(report, indent=2, allow_nan=False)


def _fmt(value: float | None, unit: str = "s") -> str:
    return "-" if value is None else f"{value:.1f}{unit}"


def render_report(report: dict, console: Console) -> None:
    base = report["base_slo_s"]
    scale = report["slo_scale"]
    setup = report["setup"]
    console.print(
        f"Base SLO {base:.1f} s (standard CHESS workflow, standalone, averaged over "
        f"{setup['instances']} instances); table at SLO scale {scale:g} = {scale * base:.1f} s"
    )
    table = Table(title=f"{setup['trace']} on {setup['cluster']}, {setup['arrivals']}")
    for column in ("policy", f"attain@{scale:g}", "deadline p95", "deadline p99", "p50", "p95", "p99", "done"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for name, s in report["policies"].items():
        attain = s["attainment"].get(f"{scale:g}")
        table.add_row(
            name,
            "-" if attain is None else f"{attain:.1%}",
            _fmt(s["deadline_p95_s"]) + (f" ({s['deadline_p95_scale']:.2f}x)" if s["deadline_p95_scale"] else ""),
            _fmt(s["deadline_p99_s"]) + (f" ({s['deadline_p99_scale']:.2f}x)" if s["deadline_p99_scale"] else ""),
            _fmt(s["p50_s"]),
            _fmt(s["p95_s"]),
            _fmt(s["p99_s"]),
            f"{s['completed']}/{s['queries']}",
        )
    console.print(table)
    util = Table(title="Instance utilisation (share of time running iterations)")
    util.add_column("policy")
    names = list(next(iter(report["policies"].values()))["utilisation"])
    for name in names:
        util.add_column(name, justify="right")
    for policy, s in report["policies"].items():
        util.add_row(policy, *(f"{s['utilisation'][n]:.0%}" for n in names))
    console.print(util)
