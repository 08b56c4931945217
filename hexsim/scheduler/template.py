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
from hexsim.inputfile import shown
from hexsim.jsonfile import read_json
from hexsim.workload.fields import MAX_TOKENS
from hexsim.workload.model import Query, Stage

FORMAT = "hexsim.template/1"
MAX_STAGES = 10_000  # expected stages still to come: CHESS runs a few dozen in all
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
    read = _Reader(str(path))
    found = read.field(record, "", "format")
    if found != FORMAT:
        raise InputError(str(path), f"key 'format' must be {FORMAT!r}, got {shown(found)}")
    steps = {
        step: StepShape(
            read.number(read.field(shape, f"steps.{step}", "output_mean"), f"steps.{step}.output_mean", MAX_TOKENS),
            read.number(
                read.field(shape, f"steps.{step}", "stage_input_mean"), f"steps.{step}.stage_input_mean", MAX_TOKENS
            ),
        )
        for step, shape in read.mapping(read.field(record, "", "steps"), "steps").items()
    }
    remaining: dict[tuple[str, int], dict[str, float]] = {}
    positions = read.field(record, "", "remaining")
    if not isinstance(positions, list):
        raise read.fail("remaining", f"must be a list, got {shown(positions)}")
    for i, position in enumerate(positions):
        key = f"remaining[{i}]"
        step = read.field(position, key, "step")
        if not isinstance(step, str) or not step:
            raise read.fail(f"{key}.step", f"must be a step name, got {shown(step)}")
        occurrence = read.field(position, key, "occurrence")
        if isinstance(occurrence, bool) or not isinstance(occurrence, int) or occurrence < 1:
            raise read.fail(f"{key}.occurrence", f"must be a positive integer, got {shown(occurrence)}")
        if (step, occurrence) in remaining:
            raise read.fail(key, f"a second entry for occurrence {occurrence} of step {step!r}")
        after = read.mapping(read.field(position, key, "stages_after"), f"{key}.stages_after")
        remaining[(step, occurrence)] = {
            name: read.number(count, f"{key}.stages_after.{name}", MAX_STAGES) for name, count in after.items()
        }
    default_output = read.number(read.field(record, "", "default_output"), "default_output", MAX_TOKENS)
    source = record.get("source", "")
    if not isinstance(source, str):
        raise read.fail("source", f"must be a string, got {shown(source)}")
    return WorkflowTemplate(steps, remaining, default_output, source)


class _Reader:
    """Checks a template record; every error names the file, the key and the value."""

    def __init__(self, path: str):
        self.path = path

    def fail(self, key: str, message: str) -> InputError:
        return InputError(self.path, f"key '{key}': {message}")

    def field(self, record: object, key: str, name: str) -> object:
        if not isinstance(record, dict):
            raise self.fail(key or "(top level)", f"must be an object, got {shown(record)}")
        if name not in record:
            raise InputError(self.path, f"missing key '{f'{key}.{name}' if key else name}'")
        return record[name]

    def mapping(self, value: object, key: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(key, f"must be an object, got {shown(value)}")
        return value

    def number(self, value: object, key: str, maximum: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= maximum:
            raise self.fail(key, f"must be a number from 0 to {maximum:,}, got {shown(value)}")
        return float(value)


@cache
def default_template() -> WorkflowTemplate:
    """The template learned from the bundled trace."""
    return load_template(DEFAULT_TEMPLATE)
