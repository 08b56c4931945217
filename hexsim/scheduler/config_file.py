"""Read the `[scheduler]` table of a TOML file into a SchedulerConfig, naming file, key and value on error."""

from dataclasses import fields
from pathlib import Path

from hexsim.errors import InputError
from hexsim.scheduler.config import RULES, SchedulerConfig
from hexsim.scheduler.registry import POLICIES
from hexsim.tomlfile import Table, read_toml


def config_from_table(table: Table) -> SchedulerConfig:
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
