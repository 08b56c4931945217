"""The accuracy the profiles promise, against every published measurement."""

from pathlib import Path

import pytest

from hexsim.profiles.splitwise import read_splitwise
from hexsim.profiles.step_fit import read_step_latencies
from hexsim.profiles.validation import splitwise_comparisons, step_comparisons

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "measurements"


@pytest.fixture(scope="module")
def comparisons():
    if not DATA.is_dir():
        pytest.skip("the shared measurements are not beside this checkout")
    steps = read_step_latencies(DATA / "step_latency_llama31_70b.csv")
    splitwise = read_splitwise(DATA / "splitwise_perf_model.csv")
    found = step_comparisons(steps, splitwise) + splitwise_comparisons(steps, splitwise)
    return {(c.dataset, c.gpu, c.tp, c.method): c for c in found}


def pick(comparisons, dataset: str, method: str):
    return [c for (d, _, _, m), c in comparisons.items() if d == dataset and m == method]


def test_shipped_profiles_within_15_percent_of_every_step_latency(comparisons):
    for c in pick(comparisons, "step latencies", "shipped profile"):
        assert abs(c.worst) <= 0.15, c.gpu


def test_roofline_with_the_gpu_left_out_within_30_percent(comparisons):
    for c in pick(comparisons, "step latencies", "roofline, GPU left out"):
        assert abs(c.worst) <= 0.30, c.gpu


def test_splitwise_in_sample_at_most_10_percent(comparisons):
    found = pick(comparisons, "Splitwise", "free fit, in sample")
    assert {(c.gpu, c.tp) for c in found} == {(g, t) for g in ("A100-80GB", "H100-80GB") for t in (2, 4, 8)}
    for c in found:
        assert c.mape <= 0.10, (c.gpu, c.tp)
        assert c.excluded == (5 if c.tp == 2 else 0)


def test_leave_one_batch_size_out_at_most_20_percent(comparisons):
    for c in pick(comparisons, "Splitwise", "roofline, batch size left out"):
        assert c.mape <= 0.20, (c.gpu, c.tp)


@pytest.mark.parametrize(
    ("gpu", "tp"),
    [
        ("A100-80GB", 2),
        ("A100-80GB", 4),
        ("A100-80GB", 8),
        ("H100-80GB", 2),
        ("H100-80GB", 4),
        ("H100-80GB", 8),
    ],
)
def test_leave_one_tp_out_at_most_20_percent(comparisons, gpu, tp):
    assert comparisons[("Splitwise", gpu, tp, "roofline, TP left out")].mape <= 0.20
