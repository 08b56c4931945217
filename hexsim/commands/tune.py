"""`hexsim tune`: search the scheduler's hyperparameters with Optuna, in simulation."""

from argparse import Namespace
from pathlib import Path

import optuna
from rich.console import Console
from rich.table import Table

from hexsim.atomic import atomic_write_text
from hexsim.cluster import load_cluster
from hexsim.errors import InputError
from hexsim.metrics.base_slo import base_slo
from hexsim.progress import lazy_progress
from hexsim.resources import default_cluster, default_trace
from hexsim.scheduler.config import format_scheduler_config
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.template import default_template, load_template
from hexsim.tune.objective import OBJECTIVES, Workload
from hexsim.tune.runner import TuneSetup, complete_trials, tune
from hexsim.tune.space import config_from_params
from hexsim.workload.traces import load_trace

DEFAULT_TRIALS = 50
DEFAULT_SEEDS = 3


def build_setup(args: Namespace) -> TuneSetup:
    cluster = load_cluster(Path(args.cluster) if args.cluster else default_cluster())
    queries = load_trace(Path(args.trace) if args.trace else default_trace())
    get_policy(args.policy)
    workload = Workload(
        cluster=cluster,
        queries=tuple(queries),
        template=load_template(args.template) if args.template else default_template(),
        base_slo=base_slo(i.profile for i in cluster.instances),
        rates=tuple(args.rates or [args.rate]),
        seeds=tuple(range(args.seed, args.seed + args.seeds)),
        slo_scale=args.slo_scale,
        objective=args.objective,
    )
    return TuneSetup(
        workload=workload,
        policy=args.policy,
        n_trials=args.trials,
        jobs=args.jobs,
        storage=args.storage,
        study_name=args.study,
        sampler=args.sampler,
        seed=args.seed,
    )


def run(args: Namespace, console: Console, err: Console) -> None:
    setup = build_setup(args)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with lazy_progress(err, f"tuning {setup.policy}", setup.n_trials) as bar:
        study = tune(setup, lambda done: bar.advance(done - bar.done))
    complete = complete_trials(study)
    if not complete:
        raise InputError("tune", "no trial completed")
    best = config_from_params(study.best_params, setup.policy)
    atomic_write_text(args.out, format_scheduler_config(best))
    render(study, complete, setup, console)
    console.print(f"wrote {args.out}: {best}")


def render(study: optuna.Study, complete, setup: TuneSetup, console: Console) -> None:
    w = setup.workload
    reverse = OBJECTIVES[w.objective] == "maximize"
    rates = ", ".join(f"{r:g}" for r in w.rates)
    table = Table(
        title=f"Best of {len(complete)} trials: {w.objective} at SLO x{w.slo_scale:g} ({setup.policy}, "
        f"{rates} q/s, {len(w.seeds)} seeds)"
    )
    for column in ("trial", "alpha", "beta", "eps", "max_running", w.objective):
        table.add_column(column, justify="right")
    for trial in sorted(complete, key=lambda t: t.value, reverse=reverse)[:5]:
        p = trial.params
        table.add_row(
            str(trial.number),
            f"{p['alpha']:.3f}",
            f"{p['beta']:.3g}",
            f"{p['eps']:.3g}",
            str(p["max_running"]),
            f"{trial.value:.4g}",
        )
    console.print(table)
