"""The search space of the scheduler's hyperparameters, defined once."""

import optuna

from hexsim.scheduler.config import SchedulerConfig

MAX_RUNNING_LIMIT = 64


def suggest_config(trial: optuna.Trial, policy: str) -> SchedulerConfig:
    """A config for `policy` with every hyperparameter it reads drawn from the space: hexsim's
    finish-time weights for `hexsim`, HexGen's alpha, beta and eps for the others.

    `max_running` 0 means no admission cap (the engine's own limits).
    """
    if policy == "hexsim":
        weights = {
            "queue_share": trial.suggest_float("queue_share", 0.0, 1.0),
            "batch_slowdown": trial.suggest_float("batch_slowdown", 0.0, 0.2),
            "cache_weight": trial.suggest_float("cache_weight", 0.0, 1.0),
            "kv_wait": trial.suggest_float("kv_wait", 0.0, 4.0),
            "home_slack": trial.suggest_float("home_slack", 0.0, 10.0),
        }
    else:
        weights = {
            "alpha": trial.suggest_float("alpha", 0.0, 1.0),
            "beta": trial.suggest_float("beta", 0.01, 1000.0, log=True),
            "eps": trial.suggest_float("eps", 0.01, 100.0, log=True),
        }
    return SchedulerConfig(policy=policy, max_running=trial.suggest_int("max_running", 0, MAX_RUNNING_LIMIT), **weights)


def config_from_params(params: dict, policy: str) -> SchedulerConfig:
    return SchedulerConfig(policy=policy, **params)


# The HexGen-Text2SQL paper tunes alpha alone, over this grid.
PAPER_ALPHA_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
# hexsim's first points beside its defaults: how strongly a query's long calls keep their home
# weighs most, and differs most between workloads.
HOME_SLACK_GRID = (0.0, 0.5)


def starting_points(policy: str) -> list[dict]:
    """Params a new study tries first: the defaults, and for hexgen's kind the paper's alpha grid, for
    hexsim a home-slack grid, so tuning never ends worse (on its own seeds) than what it replaces."""
    default = SchedulerConfig()
    if policy == "hexsim":
        names = ("queue_share", "batch_slowdown", "cache_weight", "kv_wait", "home_slack", "max_running")
        point = {name: getattr(default, name) for name in names}
        return [point] + [point | {"home_slack": s} for s in HOME_SLACK_GRID if s != default.home_slack]
    points = [{"alpha": default.alpha}] + [{"alpha": a} for a in PAPER_ALPHA_GRID if a != default.alpha]
    return [{"beta": default.beta, "eps": default.eps, "max_running": default.max_running, **p} for p in points]
