"""Urgency order: the waiting call with the least slack first.

Urgency u = t_comp - (deadline - now) orders calls like their latest start time
deadline - t_comp (`now` is common to all of them), which does not change while a call
waits: a heap keyed by latest start gives the most urgent call. A preempted call goes back
with its key unchanged, ahead of calls of equal key that never ran (as vLLM puts preempted
requests at the front of its waiting queue).
"""

import heapq

from hexsim.scheduler.task import CallTask


class UrgencyQueue:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, CallTask]] = []
        self._pushed = 0
        self._requeued = 0

    def push(self, task: CallTask) -> None:
        self._pushed += 1
        heapq.heappush(self._heap, (task.deadline - task.t_comp, self._pushed, task))

    def requeue(self, task: CallTask) -> None:
        self._requeued += 1
        heapq.heappush(self._heap, (task.deadline - task.t_comp, -self._requeued, task))

    def peek(self) -> CallTask | None:
        return self._heap[0][2] if self._heap else None

    def pop(self) -> CallTask:
        return heapq.heappop(self._heap)[2]

    def __len__(self) -> int:
        return len(self._heap)
