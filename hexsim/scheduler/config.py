"""The scheduler's configuration: policy and hyperparameters (the `[scheduler]` TOML table).

    [scheduler]
    policy = "hexgen"   # a registered policy name
    alpha = 0.5         # 0..1: weight of instance speed against queue balance in dispatch
    beta = 10.0         # seconds^2: scale of the queue-balance term
    eps = 1.0           # seconds: floor of an instance's queued work in the balance (idle) term
    max_running = 0     # calls an instance may run at once (0: as many as the engine takes)
    idle_weight = 90.0  # seconds^2 (hexsim): weight of keeping every instance busy against speed
    batch_slowdown = 0.1   # 0..1 (hexsim): slowdown of a call per call running beside it
    cache_weight = 1.0  # 0..1 (hexsim): share of a cached prefix's prefill counted as skipped
    kv_wait = 1.0       # 0..4 (hexsim): queued work a call waits behind when its KV does not fit
    home_slack = 0.5    # 0..10 (hexsim): extra cost, in run times, a long call may take at its home
"""

import math
from dataclasses import dataclass, fields

from hexsim.errors import ParameterError


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


RULES = {
    "alpha": (lambda v: _number(v) and 0.0 <= v <= 1.0, "a number from 0 to 1"),
    "beta": (lambda v: _number(v) and 0.0 < v < math.inf, "a positive number"),
    "eps": (lambda v: _number(v) and 0.0 < v < math.inf, "a positive number"),
    "max_running": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a non-negative integer"),
    "idle_weight": (lambda v: _number(v) and 0.0 <= v < math.inf, "a non-negative number"),
    "batch_slowdown": (lambda v: _number(v) and 0.0 <= v <= 1.0, "a number from 0 to 1"),
    "cache_weight": (lambda v: _number(v) and 0.0 <= v <= 1.0, "a number from 0 to 1"),
    "kv_wait": (lambda v: _number(v) and 0.0 <= v <= 4.0, "a number from 0 to 4"),
    "home_slack": (lambda v: _number(v) and 0.0 <= v <= 10.0, "a number from 0 to 10"),
}


@dataclass(frozen=True)
class SchedulerConfig:
    policy: str = "hexgen"
    alpha: float = 0.5
    beta: float = 10.0
    eps: float = 1.0
    max_running: int = 0
    idle_weight: float = 90.0
    batch_slowdown: float = 0.1
    cache_weight: float = 1.0
    kv_wait: float = 1.0
    home_slack: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.policy, str) or not self.policy:
            raise ParameterError("policy", f"must be a policy name, got {self.policy!r}")
        for name, (check, rule) in RULES.items():
            value = getattr(self, name)
            if not check(value):
                raise ParameterError(name, f"must be {rule}, got {value!r}")


def format_scheduler_config(config: SchedulerConfig) -> str:
    lines = ["[scheduler]"]
    for f in fields(SchedulerConfig):
        value = getattr(config, f.name)
        lines.append(f'{f.name} = "{value}"' if isinstance(value, str) else f"{f.name} = {value!r}")
    return "\n".join(lines) + "\n"
