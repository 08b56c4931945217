"""The search space of the scheduler's hyperparameters, defined once."""

import optuna

from hexsim.scheduler.config import SchedulerConfig

MAX_RUNNING_LIMIT = 64


def suggest_config(trial: optuna.Trial, policy: str) -> SchedulerConfig:
    """A config for `policy` with every hyperparameter drawn from the space.

    `max_running` 0 means no admission cap (the engine's own limits).
    """
    return SchedulerConfig(
        policy=policy,
        alpha=trial.suggest_float("alpha", 0.0, 1.0),
        beta=trial.suggest_float("beta", 0.01, 1000.0, log=True),
        eps=trial.suggest_float("eps", 0.01, 100.0, log=True),
        max_running=trial.suggest_int("max_running", 0, MAX_RUNNING_LIMIT),
    )


def config_from_params(params: dict, policy: str) -> SchedulerConfig:
    return SchedulerConfig(policy=policy, **params)


# The HexGen-Text2SQL paper tunes alpha alone, over this grid.
PAPER_ALPHA_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def starting_points() -> list[dict]:
    """Params a new study tries first: the defaults and the paper's alpha grid, so tuning never ends
    worse (on its own seeds) than what it replaces."""
    default = SchedulerConfig()
    points = [{"alpha": default.alpha}] + [{"alpha": a} for a in PAPER_ALPHA_GRID if a != default.alpha]
    return [{"beta": default.beta, "eps": default.eps, "max_running": default.max_running, **p} for p in points]
