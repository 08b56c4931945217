"""`hexsim capacity`: the cheapest cluster that meets an attainment target, by simulation."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hexsim.cli.base_slo import add_base_slo
from hexsim.cli.options import (
    add_config,
    add_rate,
    add_seed,
    add_slo_scale,
    add_template,
    add_trace,
    flags,
    positive_float,
    positive_int,
)
from hexsim.defaults import DEFAULT_MODEL, DEFAULT_RATE, DEFAULT_SLO_SCALE
from hexsim.errors import InputError

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from hexsim.experiment import Experiment
    from hexsim.profiles.latency import Profile
    from hexsim.tune.capacity import Candidate


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "capacity",
        help="the cheapest cluster that meets an SLO attainment target",
        description="Simulate every mix of up to --max-per-type instances of the given GPU types, in order of "
        "price, with the (tuned) scheduler, and report the cheapest cluster whose attainment at the SLO "
        "meets the target, with the runners-up. The SLO is the scale times the base SLO over one instance "
        "of each type.",
    )
    add_trace(p)
    add_rate(p, DEFAULT_RATE)
    add_slo_scale(p, DEFAULT_SLO_SCALE)
    add_base_slo(p)
    p.add_argument("--target", type=positive_float, default=0.95, help="attainment to meet (default 0.95)")
    p.add_argument("--gpus", default="A100,L40S,A6000", help="comma-separated GPU types (default A100,L40S,A6000)")
    p.add_argument(
        "--max-per-type", type=positive_int, default=2, metavar="N", help="most instances of one type (default 2)"
    )
    p.add_argument("--prices", metavar="FILE", help="TOML of $/GPU-hour per GPU (default: bundled list prices)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model the instances serve (default {DEFAULT_MODEL})")
    add_config(p, "[scheduler] TOML, e.g. from hexsim tune (default: defaults)")
    add_template(p)
    p.add_argument("--seeds", type=positive_int, default=2, metavar="M", help="arrival seeds per cluster (default 2)")
    add_seed(p, "first arrival seed")
    p.add_argument("--out", metavar="PNG", help="write a cost-against-attainment figure")
    p.set_defaults(run=run, flags=flags(p))


def run(args: argparse.Namespace, console: Console, err: Console) -> None:
    from hexsim.cli.outputs import output_file

    out = output_file("--out", args.out) if args.out is not None else None

    from hexsim.cli import setup
    from hexsim.profiles.gpus import canonical_gpu
    from hexsim.profiles.resolve import canonical_model, resolve_profile
    from hexsim.progress import lazy_progress
    from hexsim.tune.capacity import candidates, cluster_of, load_prices, plan_capacity

    model = canonical_model(args.model)
    names = [g.strip() for g in args.gpus.split(",") if g.strip()]
    if not names:
        raise InputError("--gpus", f"expected a comma-separated list of GPU types, got {args.gpus!r}")
    gpus = list(dict.fromkeys(canonical_gpu(g, "--gpus") for g in names))
    types = [resolve_profile(model, gpu, None, f"--gpus {gpu}") for gpu in gpus]
    prices = load_prices(args.prices)
    config = setup.scheduler_config(args)
    if not 0 < args.target <= 1:
        raise InputError("--target", f"must be a share in (0, 1], got {args.target}")
    # One instance of each type: the base SLO the SLO scale multiplies, the same for every candidate.
    experiment = setup.load_experiment(
        args,
        cluster_of(model, types, [1] * len(types)),
        setup.trace(args),
        config=config,
        rates=(args.rate,),
        target=args.target,
        base_slo_rule=args.base_slo,
    )
    total = len(candidates(types, prices, args.max_per_type))
    with lazy_progress(err, "simulating clusters", total) as bar:
        evaluated = plan_capacity(experiment, types, prices, args.max_per_type, on_candidate=lambda c: bar.advance())
    feasible = [c for c in evaluated if c.attainment >= args.target]
    render(evaluated, feasible, types, experiment, console)
    if out is not None:
        plot_cost(out, evaluated, types, experiment)
        console.print(f"wrote {out}: price against attainment of every cluster simulated", highlight=False)
    if not feasible:
        console.print(
            f"No cluster of up to {args.max_per_type} of each type meets {args.target:.0%}: "
            "raise --max-per-type, add GPU types or relax the SLO."
        )


def _mix(counts: tuple[int, ...], types: list[Profile]) -> str:
    """`2 A100-80GB + 1 L40S`: instances of each GPU type, each at its type's TP."""
    return " + ".join(f"{n} {p.gpu}" for n, p in zip(counts, types, strict=True) if n)


def render(
    evaluated: list[Candidate], feasible: list[Candidate], types: list[Profile], e: Experiment, console: Console
) -> None:
    """The clusters that meet the target, cheapest first: instances of each GPU type, price and attainment."""
    from rich.text import Text

    from hexsim.metrics.report import describe_base_slo, describe_workflows
    from hexsim.metrics.tables import print_table

    within = (
        f"{e.slo_scale:g} x their workflow's base SLO"
        if e.base_slos
        else f"{e.slo:.1f} s ({e.slo_scale:g} x base SLO {e.base_slo:.1f} s)"
    )
    console.print(
        Text(
            f"{len(evaluated)} clusters simulated in order of price; target {e.target:.0%} of queries within "
            f"{within} at {e.rates[0]:g} q/s."
        )
    )
    console.print(Text(describe_base_slo(e.base_slo, e.base_slo_rule, "one instance of each GPU type")))
    if e.base_slos:
        console.print(Text(describe_workflows(e.base_slos)))
    console.print()
    if not feasible:
        return
    print_table(
        console,
        "Cheapest clusters that meet the target",
        ["rank", *(f"{p.gpu} TP{p.tp}" for p in types), "$/hour", "attainment"],
        [
            [str(rank), *(str(n) for n in c.counts), f"{c.price_per_hour:.2f}", f"{c.attainment:.1%}"]
            for rank, c in enumerate(feasible, start=1)
        ],
        legend=["Instances of each GPU type, at the tensor-parallel degree (TP) in the header; $/hour of all GPUs."],
    )


def plot_cost(path: Path, evaluated: list[Candidate], types: list[Profile], e: Experiment) -> None:
    """Price against attainment of every cluster simulated; those that meet the target numbered by rank, with
    their mix in a key under the plot."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from hexsim.metrics.plots import save_figure

    fig = Figure(figsize=(7, 5.5), layout="constrained")
    ax = fig.subplots()
    meets = [c for c in evaluated if c.attainment >= e.target]
    misses = [c for c in evaluated if c.attainment < e.target]
    ax.scatter([c.price_per_hour for c in misses], [c.attainment for c in misses], color="grey", label="misses")
    ax.scatter([c.price_per_hour for c in meets], [c.attainment for c in meets], color="tab:green", label="meets")
    if meets:
        ax.scatter(
            [meets[0].price_per_hour],
            [meets[0].attainment],
            s=140,
            facecolors="none",
            edgecolors="black",
            label="cheapest",
        )
    ranks: dict[tuple[float, float], list[str]] = {}
    for rank, c in enumerate(meets, start=1):
        ranks.setdefault((c.price_per_hour, c.attainment), []).append(str(rank))
    for point, numbers in ranks.items():
        ax.annotate(", ".join(numbers), point, xytext=(0, 7), textcoords="offset points", ha="center", fontsize=8)
    ax.axhline(e.target, color="tab:red", ls=":", label=f"target {e.target:.0%}")
    ax.set(
        xlabel="cluster price ($/hour)",
        ylabel="SLO attainment",
        ylim=(min(c.attainment for c in evaluated) - 0.05, 1.08),
        title=f"Cost against attainment at {e.rates[0]:g} q/s, SLO {e.slo:.1f} s ({e.slo_scale:g} x base SLO)",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if meets:
        fig.legend(
            [Line2D([], [], ls="none", marker=f"${rank}$", color="black") for rank in range(1, len(meets) + 1)],
            [f"{_mix(c.counts, types)}: \\${c.price_per_hour:.2f}/hour, {c.attainment:.1%}" for c in meets],
            loc="outside lower center",
            fontsize=8,
            title="Clusters that meet the target, cheapest first (1)",
            title_fontsize=8,
        )
    save_figure(fig, path)
