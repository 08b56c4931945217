"""Attainment, deadlines, percentiles and the base SLO, against hand-computed values."""

import math

import pytest

from hexsim.metrics.base_slo import STANDARD_CHESS_WORKFLOW, base_slo
from hexsim.metrics.records import CallRecord, QueryRecord
from hexsim.metrics.summary import attainment, completed_percentiles, latency_deadline, queue_wait_by_step
from tests.sim.helpers import profile


def queries(latencies):
    return [QueryRecord(f"q{i}", 10.0, 60.0, None if lat is None else 10.0 + lat, 3) for i, lat in enumerate(latencies)]


def test_attainment_counts_unfinished_queries_as_misses():
    qs = queries([10, 20, 30, None])
    assert attainment(qs, 20) == 0.5
    assert attainment(qs, 1e9) == 0.75
    assert attainment(qs, 5) == 0.0


def test_latency_deadline_is_the_smallest_slo_met_by_the_share():
    qs = queries(list(range(1, 101)))
    assert latency_deadline(qs, 0.95) == 95
    assert latency_deadline(qs, 0.99) == 99
    assert latency_deadline(qs, 0.5) == 50
    assert attainment(qs, latency_deadline(qs, 0.95)) >= 0.95
    assert attainment(qs, latency_deadline(qs, 0.95) - 0.5) < 0.95


def test_latency_deadline_is_infinite_when_too_many_queries_never_finish():
    assert math.isinf(latency_deadline(queries([1, 2, 3, None]), 0.95))
    assert latency_deadline(queries([1, 2, 3, None]), 0.75) == 3


def test_percentiles_cover_completed_queries_only():
    p50, p100 = completed_percentiles(queries([1, 2, 3, None]), (50, 100))
    assert (p50, p100) == (2, 3)
    assert completed_percentiles(queries([None]), (50,)) == [None]


def test_queue_wait_by_step():
    calls = [
        CallRecord("q", 0, 0, "a", "i0", 1, 1, ready=1.0, admitted=3.0, first_token=4, finished=5, preemptions=0),
        CallRecord("q", 0, 1, "a", "i0", 1, 1, ready=1.0, admitted=1.0, first_token=4, finished=5, preemptions=0),
        CallRecord(
            "q", 1, 0, "b", "i0", 1, 1, ready=5.0, admitted=None, first_token=None, finished=None, preemptions=0
        ),
    ]
    waits = queue_wait_by_step(calls)
    assert list(waits) == ["a"]
    assert waits["a"]["mean_s"] == 1.0


def test_base_slo_averages_the_standard_workflow_over_instances():
    fast, slow = profile(base=0.01), profile(base=0.03)

    # Every call: its prompt in chunks of 8192 tokens (base each, plus 1 ms/token), then
    # output - 1 decode iterations (base each).
    def workflow(base):
        return sum(
            n * (math.ceil(i / 8192) * base + 0.001 * i + (o - 1) * base) for _, i, o, n in STANDARD_CHESS_WORKFLOW
        )

    assert base_slo([fast, fast, slow]) == pytest.approx((2 * workflow(0.01) + workflow(0.03)) / 3, rel=1e-12)
