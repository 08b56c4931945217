"""The search space of the scheduler's hyperparameters, defined once."""

import optuna

from hexsim.scheduler.config import SchedulerConfig

MAX_RUNNING_LIMIT = 64


def suggest_config(trial: optuna.Trial, policy: str) -> SchedulerConfig:
    """A config for `policy` with every hyperparameter it reads drawn from the space: hexsim's
    dispatch weights for `hexsim`, HexGen's alpha, beta and eps for the others.

    `max_running` 0 means no admission cap (the engine's own limits).
    """
    if policy == "hexsim":
        weights = {
            "idle_weight": trial.suggest_float("idle_weight", 1.0, 1000.0, log=True),
            "eps": trial.suggest_float("eps", 0.1, 10.0, log=True),
            "batch_slowdown": trial.suggest_float("batch_slowdown", 0.0, 0.5),
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
# hexsim's first points beside its defaults, as (idle_weight, home_slack): the weight of keeping
# every instance busy against speed, like hexgen's alpha, weighs most and differs most between
# clusters; a home helps where the GPUs are alike and hurts where one is far faster than the
# rest (on H100, A100, L40S, A6000 a query's long calls belong on the H100, not at their home).
HEXSIM_GRID = ((30.0, 0.5), (300.0, 0.5), (90.0, 0.0), (30.0, 0.0), (10.0, 0.0))


def starting_points(policy: str) -> list[dict]:
    """Params a new study tries first: the defaults, and for hexgen's kind the paper's alpha grid, for
    hexsim a grid of idle weight and home slack, so tuning never ends worse (on its own seeds) than
    what it replaces."""
    default = SchedulerConfig()
    if policy == "hexsim":
        names = ("idle_weight", "eps", "batch_slowdown", "cache_weight", "kv_wait", "home_slack", "max_running")
        point = {name: getattr(default, name) for name in names}
        grid = [point | {"idle_weight": w, "home_slack": h} for w, h in HEXSIM_GRID]
        return [point] + [p for p in grid if p != point]
    points = [{"alpha": default.alpha}] + [{"alpha": a} for a in PAPER_ALPHA_GRID if a != default.alpha]
    return [{"beta": default.beta, "eps": default.eps, "max_running": default.max_running, **p} for p in points]
