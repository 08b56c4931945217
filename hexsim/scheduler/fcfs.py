"""First-come, first-served local queue (vLLM's default)."""

from collections import deque

from hexsim.scheduler.task import CallTask


class FcfsQueue:
    def __init__(self) -> None:
        self._calls: deque[CallTask] = deque()

    def push(self, task: CallTask) -> None:
        self._calls.append(task)

    def requeue(self, task: CallTask) -> None:
        self._calls.appendleft(task)

    def peek(self) -> CallTask | None:
        return self._calls[0] if self._calls else None

    def pop(self) -> CallTask:
        return self._calls.popleft()

    def __len__(self) -> int:
        return len(self._calls)
