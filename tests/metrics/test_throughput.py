"""The throughput search against a known capacity."""

import math

import pytest

from hexsim.metrics.throughput import max_rate


def step_at(capacity: float, calls: list):
    def attainment(rate: float) -> float:
        calls.append(rate)
        return 1.0 if rate <= capacity else 0.5

    return attainment


@pytest.mark.parametrize("start", [0.001, 0.37, 5.0])
def test_finds_the_capacity_within_tolerance_from_any_start(start):
    calls: list = []
    found = max_rate(step_at(0.37, calls), 0.95, start, rel_tol=0.01)
    assert 0.37 / 1.01 <= found <= 0.37
    assert len(calls) < 40


def test_zero_when_nothing_meets_the_target_and_bounded_when_everything_does():
    assert max_rate(lambda r: 0.0, 0.95, 1.0, max_steps=10) == 0.0
    assert max_rate(lambda r: 1.0, 0.95, 1.0, max_steps=10) == 2.0**10


@pytest.mark.parametrize("capacity", [1e-9, 0.37, 1e9])
def test_the_number_of_evaluations_is_bounded(capacity):
    calls: list = []
    max_rate(step_at(capacity, calls), 0.95, 1.0, rel_tol=0.02, max_steps=30)
    assert len(calls) <= 1 + 30 + math.ceil(math.log2(1 / 0.02))
