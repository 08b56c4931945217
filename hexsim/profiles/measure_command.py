"""`hexsim profile measure`: time a live engine's iterations into hexsim's measurement CSV."""

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from hexsim.errors import InputError
from hexsim.profiles.gpus import canonical_gpu
from hexsim.profiles.measure import MIN_OUTPUT_TOKENS, measure_profile
from hexsim.profiles.measurements import write_measurements
from hexsim.progress import lazy_progress


def run_measure(
    endpoint: str,
    model: str,
    gpu: str,
    tp: int,
    out: str | Path,
    prompt_lengths: Sequence[int],
    batch_sizes: Sequence[int],
    output_tokens: int,
    repeats: int,
    console: Console,
    err: Console,
) -> None:
    if not endpoint.startswith(("http://", "https://")):
        raise InputError("--endpoint", f"expected an http:// or https:// URL, got {endpoint!r}")
    if not model.strip():
        raise InputError("--model", "expected the served model's name, got an empty string")
    gpu_name = canonical_gpu(gpu, "--gpu")
    _check_positive("--tp", [tp])
    _check_positive("--prompt-lengths", prompt_lengths)
    _check_positive("--batch-sizes", batch_sizes)
    if output_tokens < MIN_OUTPUT_TOKENS:
        raise InputError("--output-tokens", f"expected at least {MIN_OUTPUT_TOKENS}, got {output_tokens}")
    _check_positive("--repeats", [repeats])
    out = Path(out)
    if out.is_dir():
        raise InputError("--out", f"{out} is a directory")
    batches = repeats * len(prompt_lengths) * len(batch_sizes)
    with lazy_progress(err, f"measuring {model}", batches) as bar:
        rows = measure_profile(endpoint, model, prompt_lengths, batch_sizes, output_tokens, repeats, bar.advance)
    write_measurements(rows, out)
    console.print(
        f"wrote {len(rows)} measurements ({batches} prefill, {batches} decode) of {model} on {gpu_name} TP{tp} "
        f"to {out}",
        highlight=False,
    )


def _check_positive(flag: str, values: Sequence[int]) -> None:
    if not values:
        raise InputError(flag, "expected at least one value")
    for value in values:
        if value <= 0:
            raise InputError(flag, f"expected positive integers, got {value}")
