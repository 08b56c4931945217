"""Argument parsers of `hexsim tune` and `hexsim capacity`."""

from hexsim.cli_args import add_cluster, add_rate, add_slo_scale, add_template, add_trace, positive_float, positive_int
from hexsim.commands.simulate import DEFAULT_RATE, DEFAULT_SLO_SCALE


def add_tune_parser(sub) -> None:
    from hexsim.commands.tune import DEFAULT_SEEDS, DEFAULT_TRIALS
    from hexsim.tune.objective import OBJECTIVES
    from hexsim.tune.runner import SAMPLERS

    p = sub.add_parser(
        "tune",
        help="search the scheduler's hyperparameters with Optuna, in simulation",
        description="Search alpha, beta, eps and the admission cap of a policy with Optuna: each trial "
        "simulates the trace at every arrival rate over several seeds and scores the mean objective. Several "
        "processes (or machines) given the same --storage and --study share the work; rerunning resumes. "
        "Writes the best [scheduler] table for simulate/compare --config and the live gateway.",
    )
    add_cluster(p)
    add_trace(p)
    add_rate(p, DEFAULT_RATE)
    p.add_argument(
        "--rates", nargs="+", type=positive_float, metavar="QPS", help="several arrival rates (overrides --rate)"
    )
    add_slo_scale(p, DEFAULT_SLO_SCALE)
    p.add_argument(
        "--objective",
        choices=list(OBJECTIVES),
        default="attainment",
        help="attainment at the SLO (default), latency deadline at 95%%, or throughput at 95%%",
    )
    p.add_argument("--policy", default="hexgen", help="policy whose hyperparameters to tune (default hexgen)")
    p.add_argument(
        "--trials",
        type=positive_int,
        default=DEFAULT_TRIALS,
        metavar="N",
        help=f"completed trials the study should reach (default {DEFAULT_TRIALS})",
    )
    p.add_argument("--jobs", type=positive_int, default=1, metavar="K", help="worker processes (default 1)")
    p.add_argument(
        "--seeds",
        type=positive_int,
        default=DEFAULT_SEEDS,
        metavar="M",
        help=f"arrival seeds each trial is scored over (default {DEFAULT_SEEDS})",
    )
    p.add_argument("--seed", type=int, default=0, help="first arrival seed and the sampler's seed (default 0)")
    p.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage: sqlite:///FILE, postgresql://USER@HOST/DB or journal:FILE (default: memory)",
    )
    p.add_argument("--study", default="hexsim", metavar="NAME", help="study name in the storage (default hexsim)")
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="Optuna sampler (default tpe)")
    add_template(p)
    p.add_argument("--out", default="tuned.toml", metavar="FILE", help="best config as TOML (default tuned.toml)")


def add_capacity_parser(sub) -> None:
    from hexsim.commands.capacity import DEFAULT_MODEL

    p = sub.add_parser(
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
    p.add_argument("--target", type=positive_float, default=0.95, help="attainment to meet (default 0.95)")
    p.add_argument("--gpus", default="A100,L40S,A6000", help="comma-separated GPU types (default A100,L40S,A6000)")
    p.add_argument(
        "--max-per-type", type=positive_int, default=2, metavar="N", help="most instances of one type (default 2)"
    )
    p.add_argument("--prices", metavar="FILE", help="TOML of $/GPU-hour per GPU (default: bundled list prices)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model the instances serve (default {DEFAULT_MODEL})")
    p.add_argument("--config", metavar="FILE", help="[scheduler] TOML, e.g. from hexsim tune (default: defaults)")
    add_template(p)
    p.add_argument("--seeds", type=positive_int, default=2, metavar="M", help="arrival seeds per cluster (default 2)")
    p.add_argument("--seed", type=int, default=0, help="first arrival seed (default 0)")
    p.add_argument("--out", metavar="PNG", help="write a cost-against-attainment figure")
