"""The decision log: every event a runtime sends the core and every decision it gets back, as JSON Lines.

One flat record per line: `t` (the runtime's clock), `event` or `decision` (its kind), then
its fields. A stage's calls are one record each. Instances are named, calls spelled out as
query, stage and index. The same events at the same times give the same bytes, whichever
runtime wrote them.
"""

import json
from collections.abc import Sequence
from dataclasses import fields
from typing import TextIO

from hexsim.scheduler.events import (
    Admit,
    CallFailed,
    CallFinished,
    CallRetry,
    CallSpec,
    CallStarted,
    Decision,
    Dispatch,
    Event,
    Fail,
    InstanceLoad,
    InstanceRoom,
    InstanceUp,
    QueryArrived,
    QueryFinished,
    StageReady,
)

KINDS = {
    QueryArrived: ("event", "query_arrived"),
    StageReady: ("event", "stage_ready"),
    CallStarted: ("event", "call_started"),
    CallFinished: ("event", "call_finished"),
    CallFailed: ("event", "call_failed"),
    CallRetry: ("event", "call_retry"),
    InstanceRoom: ("event", "instance_room"),
    InstanceUp: ("event", "instance_up"),
    InstanceLoad: ("event", "instance_load"),
    QueryFinished: ("event", "query_finished"),
    Dispatch: ("decision", "dispatch"),
    Admit: ("decision", "admit"),
    Fail: ("decision", "fail"),
}


class DecisionLog:
    """Appends records to `sink` (an open text file); `instances` names the core's instances by index."""

    def __init__(self, sink: TextIO, instances: Sequence[str]):
        self._sink = sink
        self._instances = list(instances)

    def write(self, now: float, item: Event | Decision) -> None:
        for record in self.records(now, item):
            self._sink.write(json.dumps(record) + "\n")

    def records(self, now: float, item: Event | Decision) -> list[dict]:
        kind, name = KINDS[type(item)]
        head = {"t": now, kind: name}
        if isinstance(item, StageReady):
            return [
                head | {"query": item.query, "stage": item.stage, "index": i, **_spec(spec)}
                for i, spec in enumerate(item.calls, item.first)
            ]
        record = dict(head)
        for key, value in _fields(item).items():
            if key == "call":
                record |= {"query": value[0], "stage": value[1], "index": value[2]}
            elif key == "instance":
                record[key] = self._instances[value]
            else:
                record[key] = value
        return [record]


_NAMES = {kind: tuple(f.name for f in fields(kind)) for kind in (*KINDS, CallSpec)}
_SPEC = tuple(name for name in _NAMES[CallSpec] if name not in ("prefix", "known_output"))


def _fields(item: object) -> dict:
    return {name: getattr(item, name) for name in _NAMES[type(item)]}


def _spec(spec: CallSpec) -> dict:
    """A call's description; of its shared prefix, only its length (a gateway's has a segment a block);
    its known output only where the scheduler was told it (the simulator's upper bound)."""
    record = {name: getattr(spec, name) for name in _SPEC}
    if spec.prefix:
        record["prefix_tokens"] = sum(segment.tokens for segment in spec.prefix)
    if spec.known_output is not None:
        record["known_output"] = spec.known_output
    return record
