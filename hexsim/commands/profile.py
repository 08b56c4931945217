"""`hexsim profile ...`: fit, import, validate, show and predict latency profiles."""

import json
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
from hexsim.profiles.gpus import canonical_gpu, gpu_spec
from hexsim.profiles.latency import Profile
from hexsim.profiles.measurements import read_measurements, write_measurements
from hexsim.profiles.memory import kv_capacity_tokens, smallest_tp
from hexsim.profiles.models import model_spec
from hexsim.profiles.resolve import resolve_profile
from hexsim.profiles.splitwise import read_splitwise
from hexsim.profiles.step_fit import read_step_latencies
from hexsim.profiles.validation import splitwise_comparisons, step_comparisons
from hexsim.profiles.validation_plot import plot_validation
from hexsim.sim.batched import batched_call_latency


def run_fit(args: Namespace, console: Console) -> None:
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


def run_validate(args: Namespace, console: Console) -> None:
    data = Path(args.data)
    steps = read_step_latencies(data / "step_latency_llama31_70b.csv")
    splitwise = read_splitwise(data / "splitwise_perf_model.csv")
    comparisons = step_comparisons(steps, splitwise) + splitwise_comparisons(steps, splitwise)
    for dataset, rows in _grouped(comparisons).items():
        methods = [m for m in METHODS if any(m in group for group in rows.values())]
        table = Table(title=f"{dataset}: mean absolute error of predicted vs measured (worst row)")
        for column in ("GPU", "TP", "rows", *methods):
            table.add_column(column, justify="left" if column == "GPU" else "right")
        for (gpu, tp), group in rows.items():
            cells = [f"{group[m].mape:.1%} ({group[m].worst:+.0%})" if m in group else "" for m in methods]
            count = max(len(c.measured) + c.excluded for c in group.values())
            table.add_row(gpu, str(tp), str(count), *cells)
        console.print(table)
    for c in comparisons:
        if c.excluded:
            console.print(f"{c.dataset} {c.gpu} TP {c.tp}: {c.excluded} rows set aside by the fit as failed runs")
    if args.out:
        plot_validation(Path(args.out), comparisons)
        console.print(f"wrote {args.out}")


METHODS = (
    "shipped profile",
    "free fit, in sample",
    "roofline",
    "roofline, GPU left out",
    "roofline, batch size left out",
    "roofline, TP left out",
)


def _grouped(comparisons) -> dict:
    """Comparisons by data set, then (GPU, TP), then method."""
    groups: dict = {}
    for c in comparisons:
        groups.setdefault(c.dataset, {}).setdefault((c.gpu, c.tp), {})[c.method] = c
    return groups


def run_show(args: Namespace, console: Console) -> None:
    gpu = canonical_gpu(args.gpu, "GPU")
    profile = resolve_profile(args.model, gpu, args.tp, "profile")
    c = profile.coefficients
    console.print(f"[bold]{profile.model}[/] on {profile.tp} x {profile.gpu}")
    console.print(profile.provenance)
    table = Table(title="Iteration time = sum of coefficient x feature")
    for column in ("coefficient", "value", "feature"):
        table.add_column(column)
    table.add_row("base", f"{c.base * 1e3:.3f} ms", "every iteration")
    table.add_row("prefill_token", f"{c.prefill_token * 1e6:.3f} us", "prompt token computed")
    table.add_row("prefill_token_sq", f"{c.prefill_token_sq * 1e12:.3f} ps", "prompt token^2 (attention)")
    table.add_row("decode_seq", f"{c.decode_seq * 1e6:.3f} us", "decoding sequence")
    table.add_row("context_token", f"{c.context_token * 1e9:.3f} ns", "token a decoding sequence attends to")
    console.print(table)
    console.print(
        f"KV cache {profile.kv_capacity_tokens:,} tokens ({profile.kv_capacity_blocks:,} blocks of "
        f"{profile.block_size}), max_num_seqs {profile.max_num_seqs}, token budget {profile.max_num_batched_tokens}"
    )
    curves = Table(title="Curves")
    curves.add_column("prompt tokens", justify="right")
    curves.add_column("prefill (standalone)", justify="right")
    curves.add_column("decode batch", justify="right")
    curves.add_column("decode step @ 2k context", justify="right")
    for prompt, batch in zip((256, 1024, 4096, 16384), (1, 8, 32, 128), strict=True):
        step = c.iteration_time(0, 0, batch, batch * 2048)
        curves.add_row(str(prompt), f"{profile.prefill_time(prompt):.3f} s", str(batch), f"{step * 1e3:.1f} ms")
    console.print(curves)


def run_predict(args: Namespace, console: Console) -> None:
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
