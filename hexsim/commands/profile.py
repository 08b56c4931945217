"""`hexsim profile fit | import-splitwise`: profiles from measurements."""

from argparse import Namespace
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from hexsim.atomic import atomic_write_text
from hexsim.errors import InputError
from hexsim.profiles.engine_defaults import MAX_NUM_SEQS, default_token_budget
from hexsim.profiles.files import format_profile
from hexsim.profiles.fit import FitResult, fit_measurements
from hexsim.profiles.gpus import canonical_gpu, gpu_table
from hexsim.profiles.latency import Profile
from hexsim.profiles.measurements import read_measurements, write_measurements
from hexsim.profiles.memory import kv_capacity_tokens, smallest_tp
from hexsim.profiles.models import model_spec
from hexsim.profiles.splitwise import read_splitwise


def run_fit(args: Namespace, console: Console) -> None:
    rows = read_measurements(args.file)
    model = model_spec(args.model, "--model")
    gpu = gpu_table()[canonical_gpu(args.gpu, "--gpu")]
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
    atomic_write_text(args.out, format_profile(profile))
    render_fit(result, rows, console)
    console.print(f"wrote {args.out}")


def render_fit(result: FitResult, rows, console: Console) -> None:
    c = result.coefficients
    console.print(
        f"base {c.base * 1e3:.3f} ms, prefill {c.prefill_token * 1e6:.3f} us/token + "
        f"{c.prefill_token_sq * 1e9:.4f} ns/token^2, decode {c.decode_seq * 1e6:.2f} us/sequence + "
        f"{c.context_token * 1e9:.3f} ns/context token"
    )
    errors = result.relative_errors
    table = Table(title="Residuals, predicted / measured - 1 (outliers excluded)")
    for column in ("phase", "rows", "outliers", "MAPE", "median", "worst"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for phase in ("prefill", "decode"):
        used = [i for i, m in enumerate(rows) if m.phase == phase and i not in result.outliers]
        mine = np.abs(errors[used])
        worst = max(used, key=lambda i: abs(errors[i]))
        dropped = sum(1 for i in result.outliers if rows[i].phase == phase)
        table.add_row(
            phase, str(len(used)), str(dropped), f"{mine.mean():.1%}", f"{np.median(mine):.1%}", f"{errors[worst]:+.1%}"
        )
    console.print(table)
    for i in result.outliers:
        m = rows[i]
        console.print(
            f"outlier set aside: {m.phase} batch {m.batch_size} x {m.prompt_tokens} tokens, "
            f"measured {m.time_s:.4g} s, predicted {result.predicted[i]:.4g} s"
        )


def run_import_splitwise(args: Namespace, console: Console) -> None:
    groups = read_splitwise(args.file)
    out = Path(args.out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("--out-dir", f"{args.out_dir!r} exists and is not a folder")
    for (model, hardware, tp), rows in sorted(groups.items()):
        path = out / f"{model}_{hardware}_tp{tp}.csv"
        write_measurements(rows, path)
        console.print(f"{path}: {len(rows)} measurements")
