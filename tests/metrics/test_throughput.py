"""The throughput search against a known capacity, and the bounds it reports at its limits."""

import math

import pytest

from hexsim.metrics.throughput import Throughput, max_rate


def step_at(capacity: float, calls: list):
    def attainment(rate: float) -> float:
        calls.append(rate)
        return 1.0 if rate <= capacity else 0.5

    return attainment


@pytest.mark.parametrize("start", [0.001, 0.37, 5.0])
def test_finds_the_capacity_within_tolerance_from_any_start(start):
    calls: list = []
    found = max_rate(step_at(0.37, calls), 0.95, start, rel_tol=0.01)
    assert found.bound is None
    assert 0.37 / 1.01 <= found.rate <= 0.37
    assert len(calls) < 40


def test_bounds_when_nothing_or_everything_meets_the_target():
    assert max_rate(lambda r: 0.0, 0.95, 1.0, max_steps=10) == Throughput(2.0**-10, "at_most")
    assert max_rate(lambda r: 1.0, 0.95, 1.0, max_steps=10) == Throughput(2.0**10, "at_least")


def test_a_cap_that_still_meets_the_target_is_a_lower_bound_and_never_exceeded():
    calls: list = []
    found = max_rate(step_at(100.0, calls), 0.95, 1.0, cap=10.0)
    assert found == Throughput(10.0, "at_least")
    assert max(calls) == 10.0
    assert found.describe() == "at least 10.0000"


def test_a_capacity_under_the_cap_is_found_exactly():
    found = max_rate(step_at(3.0, []), 0.95, 1.0, rel_tol=0.01, cap=10.0)
    assert found.bound is None and 3.0 / 1.01 <= found.rate <= 3.0


def test_a_floor_that_misses_the_target_is_an_upper_bound_and_never_undercut():
    calls: list = []
    found = max_rate(step_at(0.001, calls), 0.95, 1.0, floor=0.1)
    assert found == Throughput(0.1, "at_most")
    assert min(calls) == 0.1
    assert found.describe() == "below 0.1000"


@pytest.mark.parametrize("capacity", [1e-9, 0.37, 1e9])
def test_the_number_of_evaluations_is_bounded(capacity):
    calls: list = []
    max_rate(step_at(capacity, calls), 0.95, 1.0, rel_tol=0.02, max_steps=30)
    assert len(calls) <= 1 + 30 + math.ceil(math.log2(1 / 0.02))
