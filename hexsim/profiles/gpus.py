"""The GPU table: canonical GPU names and their aliases (case-insensitive)."""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hexsim.errors import InputError
from hexsim.resources import bundled_dir
from hexsim.tomlfile import Table, read_toml


@dataclass(frozen=True)
class Gpu:
    name: str
    aliases: tuple[str, ...]
    hbm_gib: float


@cache
def gpu_table(path: Path | None = None) -> dict[str, Gpu]:
    """Canonical name -> Gpu, from `gpus.toml` in the bundled profiles folder."""
    path = path or bundled_dir("profiles") / "gpus.toml"
    doc = read_toml(path)
    gpus = {}
    for name, raw in doc.items():
        table = Table(raw, path, f"{name}.")
        table.check_keys({"aliases", "hbm_gib", "source"})
        aliases = table.get("aliases", list, [])
        gpus[name] = Gpu(name, tuple(aliases), table.get("hbm_gib", (int, float), check=lambda v: v > 0))
    return gpus


def canonical_gpu(name: str, where: str) -> str:
    """Resolve a GPU name or alias, case-insensitively, or fail naming `where`."""
    wanted = name.strip().lower()
    for gpu in gpu_table().values():
        if wanted == gpu.name.lower() or wanted in (a.lower() for a in gpu.aliases):
            return gpu.name
    known = ", ".join(sorted(gpu_table()))
    raise InputError(where, f"unknown GPU {name!r} (known: {known})")
