"""The tuned config is at least as good as the paper's alpha grid, on seeds it was not tuned on."""

from dataclasses import replace

import optuna
import pytest

from hexsim.scheduler.config import SchedulerConfig
from hexsim.tune.objective import score
from hexsim.tune.runner import TuneSetup, tune
from hexsim.tune.space import PAPER_ALPHA_GRID, config_from_params
from tests.tune.helpers import small_experiment

QUERIES = 200


@pytest.mark.slow
def test_tuned_config_matches_or_beats_the_best_alpha_of_the_paper_grid():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tuning = small_experiment(queries=QUERIES, seeds=(0, 1, 2), rates=(0.04,))
    held_out = replace(tuning, seeds=(10, 11, 12, 13))
    study = tune(TuneSetup(tuning, n_trials=25))
    # The paper's procedure: the grid point best on the tuning seeds.
    grid_scores = {a: score(replace(tuning, config=SchedulerConfig(alpha=a))) for a in PAPER_ALPHA_GRID}
    grid_alpha = max(grid_scores, key=grid_scores.get)
    # The study tries the grid first, so on the tuning seeds it can only do better.
    assert study.best_value >= grid_scores[grid_alpha]
    # On held-out seeds the grid's best alpha is itself near the optimum of this workload, so the
    # tuned config may tie or miss it by a query: allow one query per held-out seed, no more.
    tuned = score(replace(held_out, config=config_from_params(study.best_params, "hexgen")))
    assert tuned >= score(replace(held_out, config=SchedulerConfig(alpha=grid_alpha))) - 1 / QUERIES
