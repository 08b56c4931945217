"""The model table: architecture facts of the models hexsim can size and time, with aliases (case-insensitive)."""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hexsim.errors import InputError
from hexsim.names import find_named
from hexsim.resources import bundled_dir
from hexsim.tomlfile import Table, read_toml

COUNTS = (
    "parameters",
    "layers",
    "hidden_size",
    "intermediate_size",
    "attention_heads",
    "kv_heads",
    "head_dim",
    "vocab_size",
    "max_context",
)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    aliases: tuple[str, ...]
    parameters: int
    layers: int
    hidden_size: int
    intermediate_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    max_context: int
    source: str

    def weight_bytes(self, dtype_bytes: int = 2) -> int:
        return self.parameters * dtype_bytes

    def kv_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        """One key and one value vector per KV head per layer."""
        return 2 * self.layers * self.kv_heads * self.head_dim * dtype_bytes

    @property
    def matmul_parameters(self) -> int:
        """Weights multiplied by every token: all but the input embedding table, which is only looked up."""
        return self.parameters - self.vocab_size * self.hidden_size

    @property
    def flops_per_token(self) -> int:
        """Dense FLOPs of one token's forward pass, attention over the context excluded: a multiply-add per weight."""
        return 2 * self.matmul_parameters

    @property
    def attention_flops_per_token_sq(self) -> int:
        """Causal self-attention FLOPs of a T-token prompt, divided by T**2.

        Per layer and query head, the scores Q K^T and the weighted sum P V each take
        2 * T * T * head_dim FLOPs over the full T x T square; the causal mask keeps half of it.
        Summed over heads and layers: 2 * layers * attention_heads * head_dim * T**2.
        """
        return 2 * self.layers * self.attention_heads * self.head_dim


@cache
def model_table(path: Path | None = None) -> dict[str, ModelSpec]:
    """Canonical name -> ModelSpec, from `models.toml` in the bundled profiles folder."""
    path = path or bundled_dir("profiles") / "models.toml"
    models = {}
    for name, raw in read_toml(path).items():
        table = Table(raw, path, f"{name}.")
        table.check_keys({"aliases", "source", *COUNTS})
        counts = {k: table.get(k, int, check=lambda v: v > 0, rule="a positive integer") for k in COUNTS}
        models[name] = ModelSpec(
            name=name,
            aliases=tuple(table.get("aliases", list, [])),
            source=table.get("source", str),
            **counts,
        )
    return models


def model_spec(name: str, where: str) -> ModelSpec:
    """Resolve a model name or alias, case-insensitively, or fail naming `where` and the known models."""
    model = find_named(model_table().values(), name)
    if model is not None:
        return model
    known = ", ".join(sorted(model_table()))
    raise InputError(where, f"unknown model {name!r} (known: {known})")
