"""Profile files (TOML) and the catalog of the profiles found in a folder."""

from functools import cache
from pathlib import Path

from hexsim.profiles.gpus import canonical_gpu
from hexsim.profiles.latency import IterationCoefficients, Profile
from hexsim.profiles.measurements import MAX_ITERATION_S
from hexsim.resources import bundled_dir
from hexsim.tomlfile import Table, read_toml

COEFFICIENTS = ("base", "prefill_token", "prefill_token_sq", "decode_seq", "context_token")
# vLLM's KV blocks hold 16 to a few hundred tokens; the engine model keeps a counter per token of a block.
MAX_BLOCK_SIZE = 4096


def _positive_int(v) -> bool:
    return v > 0


def load_profile(path: str | Path) -> Profile:
    doc = Table(read_toml(path), path)
    doc.check_keys({"model", "gpu", "tp", "provenance", "iteration", "limits"})
    gpu_raw = doc.get("gpu", str)
    iteration = doc.table("iteration")
    iteration.check_keys(set(COEFFICIENTS))
    # Each coefficient multiplies a count of at least 1 whenever it counts at all: above an hour, one
    # token or one sequence would make an iteration longer than any engine's.
    coefficients = IterationCoefficients(
        **{
            k: iteration.get(
                k,
                (int, float),
                check=lambda v: 0 <= v <= MAX_ITERATION_S,
                rule=f"a number of seconds from 0 to {MAX_ITERATION_S:g}",
            )
            for k in COEFFICIENTS
        }
    )
    limits = doc.table("limits")
    limits.check_keys({"kv_capacity_tokens", "block_size", "max_num_seqs", "max_num_batched_tokens"})
    rule = "a positive integer"
    block_size = limits.get(
        "block_size", int, 16, check=lambda v: 0 < v <= MAX_BLOCK_SIZE, rule=f"an integer from 1 to {MAX_BLOCK_SIZE}"
    )
    return Profile(
        model=doc.get("model", str, check=str.strip, rule="a model name"),
        gpu=canonical_gpu(gpu_raw, f"{path}: key 'gpu'"),
        tp=doc.get("tp", int, check=_positive_int, rule=rule),
        coefficients=coefficients,
        kv_capacity_tokens=limits.get(
            "kv_capacity_tokens",
            int,
            check=lambda v: v >= block_size,
            rule=f"an integer of at least one block ({block_size} tokens)",
        ),
        block_size=block_size,
        max_num_seqs=limits.get("max_num_seqs", int, 256, check=_positive_int, rule=rule),
        max_num_batched_tokens=limits.get("max_num_batched_tokens", int, 8192, check=_positive_int, rule=rule),
        provenance=doc.get("provenance", str, ""),
    )


def format_profile(profile: Profile) -> str:
    """The TOML text of a profile file."""
    c = profile.coefficients
    lines = [
        f'model = "{profile.model}"',
        f'gpu = "{profile.gpu}"',
        f"tp = {profile.tp}",
        f'provenance = """{profile.provenance}"""',
        "",
        "[iteration]  # seconds per engine iteration: base + sum(coefficient * feature)",
        *(f"{k} = {float(getattr(c, k))!r}" for k in COEFFICIENTS),
        "",
        "[limits]",
        f"kv_capacity_tokens = {profile.kv_capacity_tokens}",
        f"block_size = {profile.block_size}",
        f"max_num_seqs = {profile.max_num_seqs}",
        f"max_num_batched_tokens = {profile.max_num_batched_tokens}",
        "",
    ]
    return "\n".join(lines)


@cache
def profile_catalog(folder: Path | None = None) -> dict[tuple[str, str, int], Profile]:
    """(model, canonical GPU, tp) -> Profile for every profile file in `folder`."""
    folder = folder or bundled_dir("profiles") / "instances"
    catalog = {}
    for path in sorted(folder.glob("*.toml")):
        profile = load_profile(path)
        catalog[(profile.model, profile.gpu, profile.tp)] = profile
    return catalog
