"""Capacity planning finds the cheapest cluster exhaustive search finds."""

from dataclasses import replace

import pytest

from hexsim.cli import main
from hexsim.metrics.base_slo import base_slo
from hexsim.profiles.resolve import resolve_profile
from hexsim.tune.capacity import candidates, cluster_of, load_prices, plan_capacity
from hexsim.tune.objective import score
from tests.tune.helpers import small_experiment

MODEL = "meta-llama/Llama-3.1-70B-Instruct"


@pytest.mark.parametrize("target", [0.7, 0.9, 1.0])
def test_cheapest_cluster_equals_exhaustive_search(target):
    types = [resolve_profile(MODEL, gpu, None, "test") for gpu in ("A100-80GB", "L40S", "A6000")]
    prices = load_prices()
    setup = replace(small_experiment(queries=40, rates=(0.05,)), base_slo=base_slo(types), target=target)
    every = candidates(types, prices, max_per_type=2)
    assert len(every) == 3**3 - 1
    scored = [(c, score(replace(setup, cluster=cluster_of(MODEL, types, c.counts)))) for c in every]
    feasible = {c.counts: c.price_per_hour for c, value in scored if value >= target}
    found = plan_capacity(setup, types, prices, max_per_type=2)
    meets = [c for c in found if c.attainment >= target]
    if feasible:
        assert meets[0].counts in feasible and meets[0].price_per_hour == min(feasible.values())
    else:
        assert meets == []


def test_prices_scale_with_tensor_parallelism():
    types = [resolve_profile(MODEL, gpu, None, "test") for gpu in ("A100-80GB", "A6000")]
    prices = {"A100-80GB": 2.0, "A6000": 1.0}
    cheapest = candidates(types, prices, max_per_type=1)
    assert [(c.counts, c.price_per_hour) for c in cheapest] == [((1, 0), 8.0), ((0, 1), 8.0), ((1, 1), 16.0)]


def test_capacity_command_bad_gpu_and_missing_price(tmp_path, capsys):
    assert main(["capacity", "--gpus", "A100,V100"]) == 2
    assert "--gpus: unknown GPU 'V100'" in capsys.readouterr().err
    prices = tmp_path / "prices.toml"
    prices.write_text("A100 = 1.5\n")
    assert main(["capacity", "--gpus", "A100,L40S", "--prices", str(prices)]) == 2
    assert "--prices: no price for GPU 'L40S'" in capsys.readouterr().err
