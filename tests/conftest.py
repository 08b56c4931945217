"""Fixtures shared by the test suite."""

from collections import Counter

import pytest

from hexsim.scheduler.core import Scheduler
from hexsim.sim.engine import Engine


@pytest.fixture
def watched(monkeypatch):
    """Count completions per call and check the KV cache between every two engine iterations."""
    finished: Counter = Counter()
    kv_checks = []
    original_finished = Scheduler.call_finished
    original_plan = Engine._plan_jump

    def call_finished(self, task, now):
        finished[id(task)] += 1
        return original_finished(self, task, now)

    def plan_jump(self):
        kv_checks.append((self.kv_blocks_in_use(), self.used_blocks, self.capacity))
        return original_plan(self)

    monkeypatch.setattr(Scheduler, "call_finished", call_finished)
    monkeypatch.setattr(Engine, "_plan_jump", plan_jump)
    return finished, kv_checks
