"""A scripted client and engines that drive the scheduler core through either runtime's adapter.

Queries of a few stages arrive, calls start and finish (the oldest admitted first), an
instance loses and regains room, and one call fits no instance. Running the same script
through a seam on SimPy's clock, as the simulator runs one, and through the gateway's adapter
(on a stepped clock) must give the same decision log, byte for byte.
"""

import io
from collections.abc import Callable

import simpy

from hexsim.cluster import ClusterSpec
from hexsim.live.adapter import GatewayAdapter
from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.events import (
    Admit,
    CallFinished,
    CallSpec,
    CallStarted,
    Dispatch,
    Fail,
    InstanceRoom,
    QueryArrived,
    QueryFinished,
    StageReady,
)
from hexsim.scheduler.log import DecisionLog
from hexsim.scheduler.seam import Seam

_CANDIDATE = CallSpec("generate_candidate", 11748, 678)
_REVISE = CallSpec("revise", 5963, 79)
_EVALUATE = CallSpec("evaluate", 961, 22)
QUERIES = {
    "q1": [(_CANDIDATE, _CANDIDATE, _CANDIDATE), (_REVISE,), (_EVALUATE,)],
    "q2": [(CallSpec("Information Retriever", 308, 5),), (CallSpec("extract_keywords", 667, 45),)],
    "q3": [(_EVALUATE, _EVALUATE)],
    "q4": [(CallSpec("revise", 10_000_000, 10), _REVISE), (_EVALUATE,)],  # its first call fits nowhere
    "q5": [(_REVISE,), (_REVISE,)],
}
SLO = 114.0


class ScriptedClient:
    """Stages in order; a query whose call failed ends with its stage. `send` reaches the adapter."""

    def __init__(self, send: Callable):
        self.send = send
        self.admitted: list = []
        self.started: set = set()
        self.pending: dict[str, int] = {}
        self.stage: dict[str, int] = {}
        self.failed: set[str] = set()
        self.expect: Callable = lambda call, action: None

    def decided(self, decision: Admit | Fail) -> None:
        if isinstance(decision, Admit):
            self.admitted.append(decision.call)
        else:
            self.failed.add(decision.call[0])
            self.call_done(decision.call[0])

    def arrive(self, query: str) -> None:
        self.send(QueryArrived(query, SLO))
        self.start_stage(query, 0)

    def start_stage(self, query: str, index: int) -> None:
        calls = QUERIES[query][index]
        self.stage[query] = index
        self.pending[query] = len(calls)
        for i in range(len(calls)):
            self.expect((query, index, i), self.decided)
        self.send(StageReady(query, index, calls))

    def start_admitted(self) -> None:
        for call in self.admitted:
            if call not in self.started:
                self.started.add(call)
                self.send(CallStarted(call))

    def finish_oldest(self) -> None:
        if self.admitted:
            call = self.admitted.pop(0)
            self.send(CallFinished(call))
            self.call_done(call[0])

    def call_done(self, query: str) -> None:
        self.pending[query] -= 1
        if self.pending[query]:
            return
        following = self.stage[query] + 1
        if query not in self.failed and following < len(QUERIES[query]):
            self.start_stage(query, following)
        else:
            self.send(QueryFinished(query))


def script() -> list[tuple[float, Callable[[ScriptedClient], None]]]:
    """(time, step) in time order; instance 1 has no room from 0.5 s to 2 s."""
    steps = [
        (0.0, lambda c: c.arrive("q1")),
        (0.2, lambda c: c.arrive("q2")),
        (0.5, lambda c: c.send(InstanceRoom(1, False))),
        (1.0, lambda c: c.arrive("q3")),
        (1.5, lambda c: c.arrive("q4")),
        (2.0, lambda c: c.send(InstanceRoom(1, True))),
        (4.0, lambda c: c.arrive("q5")),
    ]
    for k in range(40):
        t = 2.5 + 0.5 * k
        steps += [(t, ScriptedClient.start_admitted), (t + 0.25, ScriptedClient.finish_oldest)]
    return sorted(steps, key=lambda step: step[0])


def through_simulator(core: SchedulerCore, cluster: ClusterSpec) -> str:
    """The script's decision log, driven through a seam on SimPy's clock, as the simulator drives it."""
    env = simpy.Environment()
    sink = io.StringIO()
    client = ScriptedClient(lambda event: seam.send(event))
    log = DecisionLog(sink, [inst.name for inst in cluster.instances])
    seam = Seam(core, lambda: env.now, {Dispatch: lambda d: None, Admit: client.decided, Fail: client.decided}, log)

    def run():
        for t, step in script():
            yield env.timeout(t - env.now)
            step(client)

    env.process(run())
    env.run()
    return sink.getvalue()


def through_gateway(core: SchedulerCore, cluster: ClusterSpec) -> str:
    """The script's decision log, driven through the gateway's adapter on a stepped clock."""
    now = [0.0]
    sink = io.StringIO()
    adapter = GatewayAdapter(core, lambda: now[0], DecisionLog(sink, [inst.name for inst in cluster.instances]))
    client = ScriptedClient(adapter.send)
    client.expect = adapter.on_decision
    for t, step in script():
        now[0] = t
        step(client)
    return sink.getvalue()
