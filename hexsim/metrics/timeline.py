"""Chrome / Perfetto trace-event JSON of every instance's batches.

Each policy is a process, each instance a thread; each complete event ("ph": "X") is one
iteration, or one stretch of identical decode iterations that the engine jumped over.
"""

import json
from collections.abc import Sequence
from pathlib import Path

from hexsim.atomic import atomic_write_text


def timeline_events(policy_index: int, policy: str, names: Sequence[str], segments: Sequence[tuple]) -> list[dict]:
    events: list[dict] = [{"name": "process_name", "ph": "M", "pid": policy_index, "args": {"name": policy}}]
    events += [
        {"name": "thread_name", "ph": "M", "pid": policy_index, "tid": i, "args": {"name": name}}
        for i, name in enumerate(names)
    ]
    for instance, start, duration, iterations, prefill_tokens, batch in segments:
        events.append(
            {
                "name": "prefill+decode" if prefill_tokens else "decode",
                "ph": "X",
                "pid": policy_index,
                "tid": instance,
                "ts": round(start * 1e6, 3),
                "dur": round(duration * 1e6, 3),
                "args": {"iterations": iterations, "batch": batch, "prefill_tokens": prefill_tokens},
            }
        )
    return events


def write_timeline(path: Path, events: list[dict]) -> None:
    atomic_write_text(path, json.dumps({"traceEvents": events, "displayTimeUnit": "ms"}, separators=(",", ":")))
