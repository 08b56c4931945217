"""`hexsim profile predict`: the predicted latency of one call, or of a batch of identical calls."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hexsim.cli.options import flags, positive_int

if TYPE_CHECKING:
    from rich.console import Console


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="predicted latency of one call (or a batch of identical calls)",
        description="Predict the latency of a call with INPUT prompt tokens and OUTPUT generated tokens on an "
        "idle instance, split into prefill (to the first token) and decode. With --batch B, B identical calls "
        "arrive together and share the engine.",
    )
    p.add_argument("--model", required=True, help="Hugging Face id or alias")
    p.add_argument("--gpu", required=True, help="GPU name or alias")
    p.add_argument("--tp", type=positive_int, help="tensor-parallel degree (default: the smallest that fits)")
    p.add_argument("--input", required=True, type=positive_int, metavar="TOKENS", help="prompt tokens")
    p.add_argument("--output", required=True, type=positive_int, metavar="TOKENS", help="generated tokens")
    p.add_argument("--batch", type=positive_int, default=1, help="identical calls sent together (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run, flags=flags(p, input_tokens="--input"))


def run(args: argparse.Namespace, console: Console, err: Console) -> None:
    import json

    from hexsim.profiles.gpus import canonical_gpu
    from hexsim.profiles.resolve import resolve_profile
    from hexsim.sim.batched import batched_call_latency

    gpu = canonical_gpu(args.gpu, "--gpu")
    profile = resolve_profile(args.model, gpu, args.tp, "--model")
    first_token, latency = batched_call_latency(profile, args.input, args.output, args.batch)
    report = {
        "model": profile.model,
        "gpu": profile.gpu,
        "tp": profile.tp,
        "input_tokens": args.input,
        "output_tokens": args.output,
        "batch": args.batch,
        "latency_s": round(latency, 6),
        "prefill_s": round(first_token, 6),
        "decode_s": round(latency - first_token, 6),
        "profile": "roofline-derived" if profile.provenance.startswith("Roofline") else "shipped",
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        console.print(
            f"{report['latency_s']:.3f} s for {args.batch} x ({args.input} in, {args.output} out) on "
            f"{profile.tp} x {profile.gpu}: prefill {report['prefill_s']:.3f} s + decode {report['decode_s']:.3f} s "
            f"({report['profile']} profile)"
        )
