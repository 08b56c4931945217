"""The scheduler's configuration: policy and hyperparameters, from a TOML `[scheduler]` table.

    [scheduler]
    policy = "hexgen"   # a registered policy name
    alpha = 0.5         # 0..1: weight of instance speed against queue balance in dispatch
    beta = 10.0         # seconds^2: scale of the queue-balance term
    eps = 1.0           # seconds: floor of an instance's queued work in the balance term
    max_running = 0     # calls an instance may run at once (0: as many as the engine takes)

The simulator, the tuner and the live gateway all read this same table.
"""

import math
from dataclasses import dataclass, fields
from pathlib import Path

from hexsim.errors import InputError
from hexsim.tomlfile import Table, read_toml


@dataclass(frozen=True)
class SchedulerConfig:
    policy: str = "hexgen"
    alpha: float = 0.5
    beta: float = 10.0
    eps: float = 1.0
    max_running: int = 0


RULES = {
    "alpha": (lambda v: 0.0 <= v <= 1.0, "a number from 0 to 1"),
    "beta": (lambda v: 0.0 < v < math.inf, "a positive number"),
    "eps": (lambda v: 0.0 < v < math.inf, "a positive number"),
    "max_running": (lambda v: isinstance(v, int) and v >= 0, "a non-negative integer"),
}


def config_from_table(table: Table) -> SchedulerConfig:
    from hexsim.scheduler.registry import POLICIES

    names = {f.name for f in fields(SchedulerConfig)}
    table.check_keys(names)
    default = SchedulerConfig()
    values = {}
    for name in sorted(names):
        if name == "policy":
            policy = table.get("policy", str, default.policy)
            if policy not in POLICIES:
                raise table.fail("policy", f"unknown policy {policy!r} (known: {', '.join(POLICIES)})")
            values[name] = policy
        else:
            check, rule = RULES[name]
            kind = int if isinstance(getattr(default, name), int) else (int, float)
            values[name] = table.get(name, kind, getattr(default, name), check=check, rule=rule)
    return SchedulerConfig(**values)


def load_scheduler_config(path: str | Path) -> SchedulerConfig:
    """The `[scheduler]` table of a TOML file (other tables are left to their readers)."""
    doc = read_toml(path)
    if "scheduler" not in doc:
        raise InputError(str(path), "missing table '[scheduler]'")
    return config_from_table(Table(doc["scheduler"], path, "scheduler."))


def format_scheduler_config(config: SchedulerConfig) -> str:
    lines = ["[scheduler]"]
    for f in fields(SchedulerConfig):
        value = getattr(config, f.name)
        lines.append(f'{f.name} = "{value}"' if isinstance(value, str) else f"{f.name} = {value!r}")
    return "\n".join(lines) + "\n"
