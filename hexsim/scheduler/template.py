"""The workflow template: what the scheduler may assume about calls and stages not yet seen.

Learned from a trace, it holds per step type the mean output length of a call and the mean
longest prompt of a stage, and for every position in a workflow (a stage's step and how
many stages of that step the query has run, e.g. the 3rd `revise`) the expected number of
stages of each step still to come. The scheduler never reads a query's future stages; it
reads this.
"""

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hexsim.atomic import atomic_write_text
from hexsim.errors import InputError
from hexsim.jsonfile import read_json
from hexsim.workload.model import Query, Stage

FORMAT = "hexsim.template/1"
DEFAULT_TEMPLATE = Path(__file__).with_name("default_template.json")


@dataclass(frozen=True)
class StepShape:
    output_mean: float
    stage_input_mean: float


@dataclass(frozen=True)
class WorkflowTemplate:
    steps: Mapping[str, StepShape]
    remaining: Mapping[tuple[str, int], Mapping[str, float]]
    default_output: float
    source: str = ""

    def output(self, step: str) -> float:
        shape = self.steps.get(step)
        return shape.output_mean if shape is not None else self.default_output

    def stages_after(self, step: str, occurrence: int) -> Mapping[str, float]:
        """Expected stages per step still to come after the `occurrence`-th stage of `step`.

        Positions never seen in training fall back to the latest seen occurrence of the step;
        unknown steps to "nothing follows".
        """
        exact = self.remaining.get((step, occurrence))
        if exact is not None:
            return exact
        seen = [n for s, n in self.remaining if s == step and n <= occurrence]
        return self.remaining[(step, max(seen))] if seen else {}

    @classmethod
    def from_queries(cls, queries: Iterable[Query], source: str = "") -> "WorkflowTemplate":
        outputs: dict[str, list[int]] = defaultdict(list)
        stage_inputs: dict[str, list[int]] = defaultdict(list)
        futures: dict[tuple[str, int], list[dict[str, int]]] = defaultdict(list)
        for query in queries:
            keys = stage_positions(query.stages)
            for stage, key in zip(query.stages, keys, strict=True):
                stage_inputs[key[0]].append(max(c.input_tokens for c in stage.calls))
                for call in stage.calls:
                    outputs[call.step].append(call.output_tokens)
            for i, key in enumerate(keys):
                counts: dict[str, int] = defaultdict(int)
                for later in keys[i + 1 :]:
                    counts[later[0]] += 1
                futures[key].append(counts)
        if not outputs:
            raise InputError(source or "template", "cannot learn a template from a trace with no calls")
        everything = [n for v in outputs.values() for n in v]
        steps = {
            step: StepShape(
                output_mean=_mean(outputs.get(step, everything)),
                stage_input_mean=_mean(stage_inputs.get(step, [])) if step in stage_inputs else 0.0,
            )
            for step in sorted(set(outputs) | set(stage_inputs))
        }
        remaining = {}
        for key in sorted(futures):
            samples = futures[key]
            names = sorted({name for counts in samples for name in counts})
            remaining[key] = {name: sum(c.get(name, 0) for c in samples) / len(samples) for name in names}
        return cls(steps, remaining, _mean(everything), source)


def stage_positions(stages: Iterable[Stage]) -> list[tuple[str, int]]:
    """(step of the stage's first call, 1-based count of stages of that step so far) per stage."""
    seen: dict[str, int] = defaultdict(int)
    keys = []
    for stage in stages:
        step = stage.calls[0].step
        seen[step] += 1
        keys.append((step, seen[step]))
    return keys


def _mean(values: list[int]) -> float:
    return sum(values) / len(values)


def template_to_record(template: WorkflowTemplate) -> dict:
    return {
        "format": FORMAT,
        "source": template.source,
        "default_output": template.default_output,
        "steps": {
            step: {"output_mean": s.output_mean, "stage_input_mean": s.stage_input_mean}
            for step, s in template.steps.items()
        },
        "remaining": [
            {"step": step, "occurrence": n, "stages_after": dict(counts)}
            for (step, n), counts in template.remaining.items()
        ],
    }


def save_template(template: WorkflowTemplate, path: str | Path) -> None:
    atomic_write_text(path, json.dumps(template_to_record(template), indent=1) + "\n")


def load_template(path: str | Path) -> WorkflowTemplate:
    record = read_json(path, "template file")
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        found = record.get("format") if isinstance(record, dict) else None
        raise InputError(str(path), f"key 'format' must be {FORMAT!r}, got {found!r}")
    try:
        steps = {
            str(step): StepShape(float(v["output_mean"]), float(v["stage_input_mean"]))
            for step, v in record["steps"].items()
        }
        remaining = {
            (str(r["step"]), int(r["occurrence"])): {str(k): float(v) for k, v in r["stages_after"].items()}
            for r in record["remaining"]
        }
        default_output = float(record["default_output"])
    except KeyError as err:
        raise InputError(str(path), f"missing key {err.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError) as err:
        raise InputError(str(path), f"malformed template ({err})") from None
    return WorkflowTemplate(steps, remaining, default_output, str(record.get("source", "")))


@cache
def default_template() -> WorkflowTemplate:
    """The template learned from the bundled trace."""
    return load_template(DEFAULT_TEMPLATE)
