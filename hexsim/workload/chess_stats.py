"""What the CHESS trace generator needs, fitted from real traces, and its JSON form.

A query is described by its *skeleton* (which steps run how many times; the joint empirical
distribution is kept, so correlations such as "no unit test generated -> no evaluation" survive)
and every call's token lengths by per-step empirical quantiles, sampled by inverse CDF.
Calls of one query share a database schema, so their input lengths are correlated: a Gaussian
copula with one latent per query reproduces the observed correlation of normal scores.
"""

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

from hexsim.atomic import atomic_write_text
from hexsim.errors import InputError
from hexsim.inputfile import shown
from hexsim.jsonfile import read_json
from hexsim.workload.fields import MAX_TOKENS
from hexsim.workload.model import Query

RETRIEVER = "Information Retriever"
KEYWORDS = "extract_keywords"
CANDIDATE = "generate_candidate_llama-agent"
REVISE = "revise"
UNIT_TESTER = "unit_tester"
UNIT_TEST = "generate_unit_test"
EVALUATE = "evaluate"

QUANTILE_LEVELS = 101
FORMAT = "hexsim.chess_stats/1"
FIT_COMMAND = "hexsim trace fit TRACE --out FILE"
# Bounds on a stats file's numbers: CHESS runs a few dozen calls per query; counts are of fitted queries.
MAX_CALLS = 1000
MAX_COUNT = 10**12
DEFAULT_STATS_PATH = Path(__file__).with_name("chess_stats.json")


@dataclass(frozen=True, order=True)
class ChessSkeleton:
    """How often each CHESS step runs in one query."""

    extract_keywords: bool
    retriever_calls: int
    candidates: int
    revise_rounds: int
    unit_test: bool
    evaluations: int

    def steps(self) -> list[str]:
        """Step names of the query's calls in execution order."""
        return (
            [RETRIEVER]
            + [KEYWORDS] * self.extract_keywords
            + [RETRIEVER] * (self.retriever_calls - 1)
            + [CANDIDATE] * self.candidates
            + [REVISE] * self.revise_rounds
            + [UNIT_TESTER]
            + [UNIT_TEST] * self.unit_test
            + [UNIT_TESTER]
            + [EVALUATE] * self.evaluations
            + [UNIT_TESTER]
        )

    @classmethod
    def of(cls, query: Query, source: str = "queries") -> "ChessSkeleton":
        """The skeleton of `query`, or an error naming `source` (its trace) and the query."""
        steps = [call.step for call in query.calls]
        skeleton = cls(
            extract_keywords=KEYWORDS in steps,
            retriever_calls=steps.count(RETRIEVER),
            candidates=steps.count(CANDIDATE),
            revise_rounds=steps.count(REVISE),
            unit_test=UNIT_TEST in steps,
            evaluations=steps.count(EVALUATE),
        )
        if skeleton.steps() != steps:
            raise InputError(
                f"{source}: query {query.id}", f"calls do not follow the CHESS workflow: {shown(steps, 200)}"
            )
        return skeleton


@dataclass(frozen=True)
class StepLengths:
    """Token-length quantiles of one step at the evenly spaced levels 0, 1/(n-1), ..., 1."""

    input_quantiles: tuple[float, ...]
    output_quantiles: tuple[float, ...]


@dataclass(frozen=True)
class ChessWorkflowStats:
    # Distinct skeletons with the number of fitted queries that had each.
    skeletons: tuple[tuple[ChessSkeleton, int], ...]
    steps: dict[str, StepLengths]
    # Correlation of the input-length normal scores of two calls of one query.
    input_correlation: float


def fit_chess_stats(queries: Sequence[Query], source: str = "queries") -> ChessWorkflowStats:
    """The statistics of `queries`, which must follow the CHESS workflow; errors name `source`."""
    if not queries:
        raise InputError(source, "no queries to fit")
    skeletons = Counter(ChessSkeleton.of(query, source) for query in queries)
    owners: dict[str, list[int]] = defaultdict(list)
    inputs: dict[str, list[int]] = defaultdict(list)
    outputs: dict[str, list[int]] = defaultdict(list)
    for index, query in enumerate(queries):
        for call in query.calls:
            owners[call.step].append(index)
            inputs[call.step].append(call.input_tokens)
            outputs[call.step].append(call.output_tokens)
    steps = {name: StepLengths(_quantiles(inputs[name]), _quantiles(outputs[name])) for name in inputs}
    return ChessWorkflowStats(
        skeletons=tuple(sorted(skeletons.items())),
        steps=steps,
        input_correlation=_within_query_correlation(len(queries), owners, inputs),
    )


def _quantiles(lengths: list[int]) -> tuple[float, ...]:
    levels = np.linspace(0.0, 1.0, QUANTILE_LEVELS)
    # Rounded so that the fitted stats survive a JSON round trip unchanged.
    return tuple(round(float(q), 3) for q in np.quantile(lengths, levels))


def _within_query_correlation(n_queries: int, owners: dict[str, list[int]], lengths: dict[str, list[int]]) -> float:
    sums = np.zeros(n_queries)
    squares = np.zeros(n_queries)
    counts = np.zeros(n_queries)
    for step, step_owners in owners.items():
        values = lengths[step]
        scores = ndtri(rankdata(values) / (len(values) + 1))
        np.add.at(sums, step_owners, scores)
        np.add.at(squares, step_owners, scores**2)
        np.add.at(counts, step_owners, 1)
    pairs = float((counts * (counts - 1)).sum())
    total_square = float(squares.sum())
    if pairs == 0 or total_square == 0:
        return 0.0
    covariance = float((sums**2 - squares).sum()) / pairs
    # Ties shrink the scores' variance below 1, so normalise by the observed variance.
    variance = total_square / float(counts.sum())
    return round(float(np.clip(covariance / variance, 0.0, 1.0)), 4)


def stats_to_record(stats: ChessWorkflowStats) -> dict:
    return {
        "format": FORMAT,
        "input_correlation": stats.input_correlation,
        "skeletons": [
            {
                "extract_keywords": s.extract_keywords,
                "retriever_calls": s.retriever_calls,
                "candidates": s.candidates,
                "revise_rounds": s.revise_rounds,
                "unit_test": s.unit_test,
                "evaluations": s.evaluations,
                "count": count,
            }
            for s, count in stats.skeletons
        ],
        "steps": {
            name: {"input_quantiles": list(lengths.input_quantiles), "output_quantiles": list(lengths.output_quantiles)}
            for name, lengths in stats.steps.items()
        },
    }


def save_stats(stats: ChessWorkflowStats, path: str | Path) -> None:
    atomic_write_text(path, json.dumps(stats_to_record(stats), indent=1) + "\n")


def load_stats(path: str | Path) -> ChessWorkflowStats:
    record = read_json(path, "stats file")
    return _Reader(Path(path)).stats(record)


class _Reader:
    """Checks a stats record; every error names the file and the key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, message: str) -> InputError:
        return InputError(str(self.path), f"key '{key}': {message}")

    def get(self, record: object, key: str, field: str) -> object:
        if not isinstance(record, dict):
            raise self.fail(key or "(top level)", f"expected an object, got {type(record).__name__}")
        if field not in record:
            raise self.fail(f"{key}.{field}" if key else field, "missing")
        return record[field]

    def integer(self, value: object, key: str, minimum: int, maximum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise self.fail(key, f"expected an integer from {minimum} to {maximum:,}, got {shown(value)}")
        return value

    def boolean(self, value: object, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {shown(value)}")
        return value

    def quantiles(self, value: object, key: str) -> tuple[float, ...]:
        if (
            not isinstance(value, list)
            or len(value) < 2
            or any(isinstance(v, bool) or not isinstance(v, int | float) or not 1 <= v <= MAX_TOKENS for v in value)
            or any(b < a for a, b in zip(value, value[1:], strict=False))
        ):
            raise self.fail(key, f"expected a non-decreasing list of at least 2 token counts from 1 to {MAX_TOKENS:,}")
        return tuple(float(v) for v in value)

    def skeleton(self, record: object, key: str) -> tuple[ChessSkeleton, int]:
        def field(name: str) -> object:
            return self.get(record, key, name)

        skeleton = ChessSkeleton(
            extract_keywords=self.boolean(field("extract_keywords"), f"{key}.extract_keywords"),
            retriever_calls=self.integer(field("retriever_calls"), f"{key}.retriever_calls", 1, MAX_CALLS),
            candidates=self.integer(field("candidates"), f"{key}.candidates", 1, MAX_CALLS),
            revise_rounds=self.integer(field("revise_rounds"), f"{key}.revise_rounds", 0, MAX_CALLS),
            unit_test=self.boolean(field("unit_test"), f"{key}.unit_test"),
            evaluations=self.integer(field("evaluations"), f"{key}.evaluations", 0, MAX_CALLS),
        )
        return skeleton, self.integer(field("count"), f"{key}.count", 1, MAX_COUNT)

    def stats(self, record: object) -> ChessWorkflowStats:
        if isinstance(record, dict) and "format" not in record:
            raise self.fail("format", f"missing: not a stats file (make one with '{FIT_COMMAND}')")
        if self.get(record, "", "format") != FORMAT:
            raise self.fail("format", f"expected {FORMAT!r}, got {shown(record['format'])}")
        correlation = self.get(record, "", "input_correlation")
        if isinstance(correlation, bool) or not isinstance(correlation, int | float) or not 0 <= correlation <= 1:
            raise self.fail("input_correlation", f"expected a number in [0, 1], got {shown(correlation)}")
        skeletons_raw = self.get(record, "", "skeletons")
        if not isinstance(skeletons_raw, list) or not skeletons_raw:
            raise self.fail("skeletons", "expected a non-empty list")
        skeletons = tuple(self.skeleton(s, f"skeletons[{i}]") for i, s in enumerate(skeletons_raw))
        steps_raw = self.get(record, "", "steps")
        if not isinstance(steps_raw, dict):
            raise self.fail("steps", "expected an object")
        steps = {
            name: StepLengths(
                self.quantiles(self.get(raw, f"steps.{name}", "input_quantiles"), f"steps.{name}.input_quantiles"),
                self.quantiles(self.get(raw, f"steps.{name}", "output_quantiles"), f"steps.{name}.output_quantiles"),
            )
            for name, raw in steps_raw.items()
        }
        needed = {step for skeleton, _ in skeletons for step in skeleton.steps()}
        if missing := sorted(needed - steps.keys()):
            raise self.fail("steps", f"no token lengths for steps {missing}")
        return ChessWorkflowStats(skeletons, steps, float(correlation))


def default_stats() -> ChessWorkflowStats:
    """The stats shipped with hexsim, fitted from the three published CHESS/BIRD traces."""
    return load_stats(DEFAULT_STATS_PATH)
