"""`hexsim profile fit`: fit a profile's iteration-time coefficients to a measurement CSV."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hexsim.cli.options import flags, positive_int
from hexsim.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

    from hexsim.profiles.fit import FitResult
    from hexsim.profiles.measurements import Measurement


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "fit",
        help="fit a profile to a measurement CSV",
        description="Fit the iteration-time coefficients of a profile to hexsim's measurement CSV "
        "(phase,batch_size,prompt_tokens,context_tokens,time_s) by robust least squares, print the "
        "residuals and write the profile TOML.",
    )
    p.add_argument("file", metavar="MEASUREMENTS.csv", help="hexsim measurement CSV")
    p.add_argument("--model", required=True, help="model, by Hugging Face id or alias")
    p.add_argument("--gpu", required=True, help="GPU name or alias (see profiles/gpus.toml)")
    p.add_argument("--tp", type=positive_int, help="tensor-parallel degree (default: the smallest that fits)")
    p.add_argument("--out", required=True, metavar="PROFILE", help="output profile TOML")
    p.add_argument("--kv-tokens", type=positive_int, help="KV-cache capacity in tokens (default: from GPU memory)")
    p.add_argument("--token-budget", type=positive_int, help="max_num_batched_tokens (default: vLLM's for the GPU)")
    p.add_argument("--max-num-seqs", type=positive_int, help="max_num_seqs (default 256)")
    p.set_defaults(run=run, flags=flags(p))


def run(args: argparse.Namespace, console: Console, err: Console) -> None:
    from pathlib import Path

    from hexsim.cli.outputs import output_file

    out = output_file("--out", args.out)

    from hexsim.atomic import atomic_write_text
    from hexsim.profiles.engine_defaults import MAX_NUM_SEQS, default_token_budget
    from hexsim.profiles.files import format_profile
    from hexsim.profiles.fit import fit_measurements
    from hexsim.profiles.gpus import gpu_spec
    from hexsim.profiles.latency import Profile
    from hexsim.profiles.measurements import read_measurements
    from hexsim.profiles.memory import kv_capacity_tokens, smallest_tp
    from hexsim.profiles.models import model_spec

    rows = read_measurements(args.file)
    model = model_spec(args.model, "--model")
    gpu = gpu_spec(args.gpu, "--gpu")
    tp = args.tp or smallest_tp(model, gpu, "--tp")
    kv_tokens = args.kv_tokens or kv_capacity_tokens(model, gpu, tp)
    if kv_tokens <= 0:
        raise InputError("--tp", f"{model.name} does not fit on {tp} x {gpu.name}; give a larger --tp")
    result = fit_measurements(rows, str(args.file))
    provenance = (
        f"Fitted by 'hexsim profile fit' to {len(rows)} timed iterations in {Path(args.file).name} "
        f"(MAPE {result.mape:.1%}, {len(result.outliers)} outlier rows set aside). KV capacity "
        + (f"given as {kv_tokens} tokens." if args.kv_tokens else "from GPU memory (hexsim.profiles.memory).")
    )
    profile = Profile(
        model=model.name,
        gpu=gpu.name,
        tp=tp,
        coefficients=result.coefficients,
        kv_capacity_tokens=kv_tokens,
        max_num_seqs=args.max_num_seqs or MAX_NUM_SEQS,
        max_num_batched_tokens=args.token_budget or default_token_budget(gpu),
        provenance=provenance,
    )
    atomic_write_text(out, format_profile(profile))
    render(result, rows, console)
    console.print(f"wrote {out}: profile of {model.name} on {tp} x {gpu.name}", soft_wrap=True, highlight=False)


def render(result: FitResult, rows: list[Measurement], console: Console) -> None:
    import numpy as np
    from rich.text import Text

    from hexsim.metrics.tables import print_table

    c = result.coefficients
    console.print(
        Text(
            f"base {c.base * 1e3:.3f} ms, prefill {c.prefill_token * 1e6:.3f} us/token + "
            f"{c.prefill_token_sq * 1e9:.4f} ns/token^2, decode {c.decode_seq * 1e6:.2f} us/sequence + "
            f"{c.context_token * 1e9:.3f} ns/context token"
        )
    )
    console.print()
    errors = result.relative_errors
    table = []
    for phase in ("prefill", "decode"):
        used = [i for i, m in enumerate(rows) if m.phase == phase and i not in result.outliers]
        mine = np.abs(errors[used])
        worst = max(used, key=lambda i: abs(errors[i]))
        dropped = sum(1 for i in result.outliers if rows[i].phase == phase)
        table.append(
            [
                phase,
                str(len(used)),
                str(dropped),
                f"{mine.mean():.1%}",
                f"{np.median(mine):.1%}",
                f"{errors[worst]:+.1%}",
            ]
        )
    print_table(
        console,
        "Residuals, predicted / measured - 1 (outliers excluded)",
        ["phase", "rows", "outliers", "MAPE", "median", "worst"],
        table,
        legend=["MAPE and median: of the absolute residuals; worst: the residual furthest from 0."],
    )
    for i in result.outliers:
        m = rows[i]
        console.print(
            f"outlier set aside: {m.phase} batch {m.batch_size} x {m.prompt_tokens} tokens, "
            f"measured {m.time_s:.4g} s, predicted {result.predicted[i]:.4g} s"
        )
