"""`hexsim tune`: search the scheduler's hyperparameters with Optuna, in simulation."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hexsim.cli.base_slo import add_base_slo
from hexsim.cli.options import (
    add_cluster,
    add_rate,
    add_seed,
    add_slo_scale,
    add_template,
    add_trace,
    flags,
    positive_float,
    positive_int,
)
from hexsim.defaults import DEFAULT_RATE, DEFAULT_SLO_SCALE, OBJECTIVES, SAMPLERS
from hexsim.errors import InputError

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial
    from rich.console import Console

    from hexsim.tune.runner import TuneSetup

DEFAULT_TRIALS = 50
DEFAULT_SEEDS = 3


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "tune",
        help="search the scheduler's hyperparameters with Optuna, in simulation",
        description="Search alpha, beta, eps and the admission cap of a policy with Optuna: each trial "
        "simulates the trace at every arrival rate over several seeds and scores the mean objective. Several "
        "processes (or machines) given the same --storage and --study share the work; rerunning resumes. "
        "Writes the best [scheduler] table for simulate/compare/capacity --config.",
    )
    add_cluster(p)
    add_trace(p)
    add_rate(p, DEFAULT_RATE)
    p.add_argument(
        "--rates", nargs="+", type=positive_float, metavar="QPS", help="several arrival rates (overrides --rate)"
    )
    add_slo_scale(p, DEFAULT_SLO_SCALE)
    add_base_slo(p)
    p.add_argument(
        "--objective",
        choices=list(OBJECTIVES),
        default="attainment",
        help="attainment at the SLO (default), latency deadline at 95%%, or throughput at 95%% (under sustained "
        "load, as compare measures it)",
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
    add_seed(p, "first arrival seed and the sampler's seed")
    p.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage: sqlite:///FILE, postgresql://USER@HOST/DB or journal:FILE (default: memory)",
    )
    p.add_argument("--study", default="hexsim", metavar="NAME", help="study name in the storage (default hexsim)")
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="Optuna sampler (default tpe)")
    add_template(p)
    p.add_argument("--out", default="tuned.toml", metavar="FILE", help="best config as TOML (default tuned.toml)")
    p.set_defaults(run=run, flags=flags(p))


def build_setup(args: argparse.Namespace) -> TuneSetup:
    from hexsim.cli import setup
    from hexsim.scheduler.config import SchedulerConfig
    from hexsim.scheduler.registry import get_policy
    from hexsim.tune.runner import TuneSetup

    config = SchedulerConfig(policy=get_policy(args.policy).name)
    experiment = setup.load_experiment(
        args,
        setup.cluster(args),
        setup.trace(args),
        config=config,
        rates=tuple(args.rates or [args.rate]),
        base_slo_rule=args.base_slo,
    )
    return TuneSetup(
        experiment=experiment,
        n_trials=args.trials,
        objective=args.objective,
        jobs=args.jobs,
        storage=args.storage,
        study_name=args.study,
        sampler=args.sampler,
        seed=args.seed,
    )


def run(args: argparse.Namespace, console: Console, err: Console) -> None:
    from hexsim.cli.outputs import output_file

    out = output_file("--out", args.out)

    import optuna

    from hexsim.atomic import atomic_write_text
    from hexsim.metrics.report import describe_config
    from hexsim.progress import lazy_progress
    from hexsim.scheduler.config import format_scheduler_config
    from hexsim.tune.runner import complete_trials, tune
    from hexsim.tune.space import config_from_params

    setup = build_setup(args)
    policy = setup.experiment.config.policy
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with lazy_progress(err, f"tuning {policy}", setup.n_trials) as bar:
        study = tune(setup, lambda done: bar.advance(done - bar.done))
    complete = complete_trials(study)
    if not complete:
        raise InputError("tune", "no trial completed")
    best = config_from_params(study.best_params, policy)
    atomic_write_text(out, format_scheduler_config(best))
    render(complete, setup, console)
    console.print(
        f"wrote {out}: [scheduler] {describe_config({'policy': policy, **study.best_params})}",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )


def render(complete: list[FrozenTrial], setup: TuneSetup, console: Console) -> None:
    """The base SLO, and the five best trials: their hyperparameters and objective value."""
    from rich.text import Text

    from hexsim.metrics.report import describe_base_slo, describe_workflows
    from hexsim.metrics.tables import print_table

    e = setup.experiment
    console.print(Text(describe_base_slo(e.base_slo, e.base_slo_rule, f"the {len(e.cluster.instances)} instances")))
    if e.base_slos:
        console.print(Text(describe_workflows(e.base_slos)))
    console.print()
    reverse = OBJECTIVES[setup.objective] == "maximize"
    rates = ", ".join(f"{r:g}" for r in e.rates)
    best = sorted(complete, key=lambda t: t.value, reverse=reverse)[:5]
    names = list(best[0].params)  # the policy's hyperparameters, in the order the space draws them
    print_table(
        console,
        f"Best of {len(complete)} trials: {setup.objective} at SLO x{e.slo_scale:g} ({e.config.policy}, {rates} q/s, "
        f"{len(e.seeds)} seed{'s' if len(e.seeds) > 1 else ''})",
        ["trial", *names, setup.objective],
        [[str(t.number), *(_param(t.params[name]) for name in names), f"{t.value:.4g}"] for t in best],
    )


def _param(value: float | int) -> str:
    return str(value) if isinstance(value, int) else f"{value:.3g}"
