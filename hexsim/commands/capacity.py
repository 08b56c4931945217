"""`hexsim capacity`: the cheapest cluster that meets an attainment target, by simulation."""

from argparse import Namespace
from pathlib import Path

from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from hexsim.errors import InputError
from hexsim.metrics.base_slo import base_slo
from hexsim.metrics.plots import save_figure
from hexsim.profiles.gpus import canonical_gpu
from hexsim.profiles.resolve import canonical_model, resolve_profile
from hexsim.progress import lazy_progress
from hexsim.resources import default_trace
from hexsim.scheduler.config import SchedulerConfig, load_scheduler_config
from hexsim.scheduler.template import default_template, load_template
from hexsim.tune.capacity import Candidate, candidates, load_prices, plan_capacity
from hexsim.tune.objective import Workload
from hexsim.workload.traces import load_trace

DEFAULT_MODEL = "meta-llama/Llama-3.1-70B-Instruct"


def run(args: Namespace, console: Console, err: Console) -> None:
    model = canonical_model(args.model)
    names = [g.strip() for g in args.gpus.split(",") if g.strip()]
    if not names:
        raise InputError("--gpus", f"expected a comma-separated list of GPU types, got {args.gpus!r}")
    gpus = list(dict.fromkeys(canonical_gpu(g, "--gpus") for g in names))
    types = [resolve_profile(model, gpu, None, f"--gpus {gpu}") for gpu in gpus]
    prices = load_prices(args.prices)
    config = load_scheduler_config(args.config) if args.config else SchedulerConfig()
    if not 0 < args.target <= 1:
        raise InputError("--target", f"must be a share in (0, 1], got {args.target}")
    workload = Workload(
        cluster=None,
        queries=tuple(load_trace(Path(args.trace) if args.trace else default_trace())),
        template=load_template(args.template) if args.template else default_template(),
        base_slo=base_slo(types),
        rates=(args.rate,),
        seeds=tuple(range(args.seed, args.seed + args.seeds)),
        slo_scale=args.slo_scale,
    )
    total = len(candidates(types, prices, args.max_per_type))
    with lazy_progress(err, "simulating clusters", total) as bar:
        evaluated = plan_capacity(
            workload, model, types, prices, config, args.target, args.max_per_type, on_candidate=lambda c: bar.advance()
        )
    feasible = [c for c in evaluated if c.attainment >= args.target]
    render(evaluated, feasible, types, workload, args, console)
    if args.out:
        plot_cost(Path(args.out), evaluated, args.target)
        console.print(f"wrote {args.out}")
    if not feasible:
        console.print(
            f"No cluster of up to {args.max_per_type} of each type meets {args.target:.0%}: "
            "raise --max-per-type, add GPU types or relax the SLO."
        )


def render(evaluated, feasible, types, workload: Workload, args: Namespace, console: Console) -> None:
    slo = workload.slo_scale * workload.base_slo
    console.print(
        f"{len(evaluated)} clusters simulated in order of price; target {args.target:.0%} of queries within "
        f"{slo:.1f} s ({workload.slo_scale:g} x base SLO {workload.base_slo:.1f} s) at {args.rate:g} q/s"
    )
    table = Table(title="Cheapest clusters that meet the target")
    for column in ("rank", "cluster", "$/hour", "attainment"):
        table.add_column(column, justify="left" if column == "cluster" else "right")
    for rank, c in enumerate(feasible, start=1):
        table.add_row(str(rank), c.describe(types), f"{c.price_per_hour:.2f}", f"{c.attainment:.1%}")
    console.print(table)


def plot_cost(path: Path, evaluated: list[Candidate], target: float) -> None:
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    meets = [c for c in evaluated if c.attainment >= target]
    misses = [c for c in evaluated if c.attainment < target]
    ax.scatter([c.price_per_hour for c in misses], [c.attainment for c in misses], color="grey", label="misses")
    ax.scatter([c.price_per_hour for c in meets], [c.attainment for c in meets], color="tab:green", label="meets")
    if meets:
        ax.scatter(
            [meets[0].price_per_hour],
            [meets[0].attainment],
            s=120,
            facecolors="none",
            edgecolors="black",
            label="cheapest",
        )
    ax.axhline(target, color="tab:red", ls=":", label=f"target {target:.0%}")
    ax.set(xlabel="cluster price ($/hour)", ylabel="SLO attainment", title="Cost against attainment")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
