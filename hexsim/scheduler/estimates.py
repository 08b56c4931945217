"""Output-length estimates: what the scheduler assumes a call will generate.

The scheduler never sees a call's true output length (it is unknown live); it uses the
mean output length of the call's step type, learned from a trace.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hexsim.workload.model import Query


@dataclass(frozen=True)
class StepMeans:
    means: Mapping[str, float]
    default: float

    @classmethod
    def from_queries(cls, queries: Iterable[Query]) -> "StepMeans":
        totals: dict[str, list[int]] = defaultdict(list)
        for query in queries:
            for call in query.calls:
                totals[call.step].append(call.output_tokens)
        everything = [n for lengths in totals.values() for n in lengths]
        default = sum(everything) / len(everything) if everything else 1.0
        return cls({step: sum(v) / len(v) for step, v in sorted(totals.items())}, default)

    def output(self, step: str) -> float:
        return self.means.get(step, self.default)
