"""A request inside the engine model, and the two waiting queues of vLLM v1's scheduler."""

import heapq
from collections import deque

WAITING, PREFILL, DECODE, DONE = 0, 1, 2, 3


class Request:
    """One request's progress: `kv` of its `target` tokens cached while it prefills (its prompt,
    plus the output it had generated before a preemption), `gen` tokens generated.

    While it decodes, its KV length is `base + it` on the planner's iteration counter and it
    finishes at iteration `end`. `handle` is the runtime's own object for the request. With
    prefix caching, `kv` starts at the cached tokens it found.
    """

    __slots__ = (
        "handle",
        "prompt",
        "out",
        "priority",
        "arrival",
        "target",
        "kv",
        "gen",
        "base",
        "end",
        "state",
        "ticket",
        "preemptions",
        "aborted",
        "path",
    )

    def __init__(self, handle: object, prompt: int, out: int, priority: int, arrival: int):
        self.handle = handle
        self.prompt = prompt
        self.out = out
        self.priority = priority
        self.arrival = arrival
        self.target = prompt
        self.kv = 0
        self.gen = 0
        self.base = 0
        self.end = 0
        self.state = WAITING
        self.ticket = 0
        self.preemptions = 0
        self.aborted = False
        self.path = None  # its prompt's shared prefix, with prefix caching


class FcfsQueue:
    """vLLM's FCFS waiting queue: arrival order, a preempted request back at the front."""

    def __init__(self) -> None:
        self._items: deque[Request] = deque()

    def add(self, request: Request) -> None:
        self._items.append(request)

    def put_back(self, request: Request) -> None:
        self._items.appendleft(request)

    def peek(self) -> Request | None:
        items = self._items
        while items and items[0].aborted:
            items.popleft()
        return items[0] if items else None

    def pop(self) -> Request:
        return self._items.popleft()


class PriorityQueue:
    """vLLM's priority waiting queue: lowest `priority` first, then earliest arrival; a preempted
    request goes back by the same rule."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Request]] = []

    def add(self, request: Request) -> None:
        heapq.heappush(self._heap, (request.priority, request.arrival, request))

    put_back = add

    def peek(self) -> Request | None:
        heap = self._heap
        while heap and heap[0][2].aborted:
            heapq.heappop(heap)
        return heap[0][2] if heap else None

    def pop(self) -> Request:
        return heapq.heappop(self._heap)[2]
