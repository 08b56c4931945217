"""`hexsim profile measure`: time a live engine's iterations into hexsim's measurement CSV."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hexsim.cli.options import flags, positive_int
from hexsim.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "measure",
        help="time a live OpenAI-compatible engine into a measurement CSV",
        description="Run a controlled sweep (prompt lengths x batch sizes, prompts as token-id lists of exact "
        "length, max_tokens with ignore_eos, streamed) against an OpenAI-compatible vLLM endpoint and record "
        "prefill and per-token decode iteration times, for 'hexsim profile fit'.",
    )
    p.add_argument("--endpoint", required=True, metavar="URL", help="server root, e.g. http://127.0.0.1:8000")
    p.add_argument("--model", required=True, help="model name the server serves")
    p.add_argument("--gpu", required=True, help="GPU of the instance (recorded in the summary)")
    p.add_argument("--tp", type=positive_int, default=1, help="tensor-parallel degree of the instance (default 1)")
    p.add_argument("--out", required=True, metavar="CSV", help="output measurement CSV")
    p.add_argument(
        "--prompt-lengths",
        nargs="+",
        type=positive_int,
        default=[128, 1024, 3072],
        metavar="N",
        help="prompt lengths in tokens (default 128 1024 3072)",
    )
    p.add_argument(
        "--batch-sizes",
        nargs="+",
        type=positive_int,
        default=[1, 4, 8],
        metavar="N",
        help="requests sent together (default 1 4 8); keep batch x prompt within the token budget",
    )
    p.add_argument(
        "--output-tokens", type=positive_int, default=32, metavar="N", help="tokens each request generates (default 32)"
    )
    p.add_argument("--repeats", type=positive_int, default=1, metavar="N", help="sweeps to run (default 1)")
    p.set_defaults(run=run, flags=flags(p))


def run(args: argparse.Namespace, console: Console, err: Console) -> None:
    run_measure(
        args.endpoint,
        args.model,
        args.gpu,
        args.tp,
        args.out,
        args.prompt_lengths,
        args.batch_sizes,
        args.output_tokens,
        args.repeats,
        console,
        err,
    )


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
    from hexsim.cli.outputs import output_file

    out = output_file("--out", out)

    try:
        from hexsim.profiles.measure import MIN_OUTPUT_TOKENS, measure_profile
    except ModuleNotFoundError as error:
        if error.name != "httpx":
            raise
        raise InputError("profile measure", "needs the live extra (httpx): pip install 'hexsim[live]'") from None
    from hexsim.profiles.gpus import canonical_gpu
    from hexsim.profiles.measurements import write_measurements
    from hexsim.progress import lazy_progress

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
