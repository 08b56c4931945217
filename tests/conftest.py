"""Fixtures shared by the test suite."""

from collections import Counter

import pytest

from hexsim.engine.planner import Planner
from hexsim.scheduler.core import SchedulerCore


@pytest.fixture
def watched(monkeypatch):
    """Count completions per call and check the KV cache between every two engine iterations."""
    finished: Counter = Counter()
    kv_checks = []
    original_finished = SchedulerCore._call_finished
    original_plan = Planner.plan

    def call_finished(self, event, now):
        finished[event.call] += 1
        return original_finished(self, event, now)

    def plan(self, limit=None):
        kv_checks.append((self.kv_blocks_in_use(), self.used_blocks, self.capacity))
        return original_plan(self, limit)

    monkeypatch.setattr(SchedulerCore, "_call_finished", call_finished)
    monkeypatch.setattr(Planner, "plan", plan)
    return finished, kv_checks
