"""The GPU table: canonical GPU names, their aliases (case-insensitive) and datasheet numbers."""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hexsim.errors import InputError
from hexsim.names import find_named
from hexsim.resources import bundled_dir
from hexsim.tomlfile import Table, read_toml


@dataclass(frozen=True)
class Gpu:
    name: str
    aliases: tuple[str, ...]
    hbm_gib: float
    hbm_gbs: float
    bf16_tflops: float
    interconnect: str
    interconnect_gbs: float
    source: str
    product: str  # nvidia.com/gpu.product, the node label of Kubernetes' GPU feature discovery

    @property
    def hbm_bytes(self) -> float:
        return self.hbm_gib * 2**30


def _positive(v) -> bool:
    return v > 0


@cache
def gpu_table(path: Path | None = None) -> dict[str, Gpu]:
    """Canonical name -> Gpu, from `gpus.toml` in the bundled profiles folder."""
    path = path or bundled_dir("profiles") / "gpus.toml"
    doc = read_toml(path)
    gpus = {}
    numbers = ("hbm_gib", "hbm_gbs", "bf16_tflops", "interconnect_gbs")
    for name, raw in doc.items():
        table = Table(raw, path, f"{name}.")
        table.check_keys({"aliases", "interconnect", "source", "product", *numbers})
        values = {k: table.get(k, (int, float), check=_positive, rule="a positive number") for k in numbers}
        gpus[name] = Gpu(
            name=name,
            aliases=tuple(table.get("aliases", list, [])),
            interconnect=table.get("interconnect", str),
            source=table.get("source", str),
            product=table.get("product", str),
            **values,
        )
    return gpus


def canonical_gpu(name: str, where: str) -> str:
    """Resolve a GPU name or alias, case-insensitively, or fail naming `where`."""
    gpu = find_named(gpu_table().values(), name)
    if gpu is not None:
        return gpu.name
    known = ", ".join(sorted(gpu_table()))
    raise InputError(where, f"unknown GPU {name!r} (known: {known})")


def gpu_spec(name: str, where: str) -> Gpu:
    """The table entry of a GPU name or alias."""
    return gpu_table()[canonical_gpu(name, where)]
