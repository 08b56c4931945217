"""`hexsim profile show`: a profile's coefficients, limits, curves and provenance."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hexsim.cli.options import flags, positive_int

if TYPE_CHECKING:
    from rich.console import Console


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "show",
        help="print a profile's coefficients, limits, curves and provenance",
        description="Print the profile hexsim uses for MODEL on GPU (a shipped file, else derived from the "
        "roofline): its coefficients, KV capacity and limits, prefill and decode curves, and where each "
        "number came from.",
    )
    p.add_argument("model", metavar="MODEL", help="Hugging Face id or alias, e.g. meta-llama/Llama-3.1-70B-Instruct")
    p.add_argument("gpu", metavar="GPU", help="GPU name or alias, e.g. A100, H100, L40")
    p.add_argument("tp", metavar="TP", nargs="?", type=positive_int, help="tensor-parallel degree (default: smallest)")
    p.set_defaults(run=run, flags=flags(p))


def run(args: argparse.Namespace, console: Console, err: Console) -> None:
    from rich.text import Text

    from hexsim.metrics.tables import print_table
    from hexsim.profiles.gpus import canonical_gpu
    from hexsim.profiles.resolve import resolve_profile

    gpu = canonical_gpu(args.gpu, "GPU")
    profile = resolve_profile(args.model, gpu, args.tp, "profile")
    c = profile.coefficients
    console.print(f"[bold]{profile.model}[/] on {profile.tp} x {profile.gpu}")
    console.print(Text(profile.provenance))
    console.print()
    print_table(
        console,
        "Iteration time = sum of coefficient x feature",
        ["coefficient", "value", "feature"],
        [
            ["base", f"{c.base * 1e3:.3f} ms", "every iteration"],
            ["prefill_token", f"{c.prefill_token * 1e6:.3f} us", "prompt token computed"],
            ["prefill_token_sq", f"{c.prefill_token_sq * 1e12:.3f} ps", "prompt token^2 (attention)"],
            ["decode_seq", f"{c.decode_seq * 1e6:.3f} us", "decoding sequence"],
            ["context_token", f"{c.context_token * 1e9:.3f} ns", "token a decoding sequence attends to"],
        ],
        texts=[2],
    )
    console.print(
        f"KV cache {profile.kv_capacity_tokens:,} tokens ({profile.kv_capacity_blocks:,} blocks of "
        f"{profile.block_size}), max_num_seqs {profile.max_num_seqs}, token budget {profile.max_num_batched_tokens}"
    )
    console.print()
    rows = []
    for prompt, batch in zip((256, 1024, 4096, 16384), (1, 8, 32, 128), strict=True):
        step = c.iteration_time(0, 0, batch, batch * 2048)
        rows.append([str(prompt), f"{profile.prefill_time(prompt):.3f}", str(batch), f"{step * 1e3:.1f}"])
    print_table(
        console,
        "Curves: a prompt's standalone prefill, and a decode step of a batch at 2k tokens of context each",
        ["prompt tokens", "prefill (s)", "decode batch", "decode step (ms)"],
        rows,
        keys=0,
    )
