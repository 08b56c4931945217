"""Run a study: workers (threads of none, processes of one machine, or machines sharing a storage)
that together finish exactly the requested number of trials."""

import importlib.util
import multiprocessing
import os
import signal
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace

import optuna
from optuna.trial import TrialState

from hexsim.defaults import OBJECTIVES, SAMPLERS
from hexsim.errors import InputError, ParameterError
from hexsim.experiment import Experiment
from hexsim.tune.objective import score
from hexsim.tune.space import starting_points, suggest_config
from hexsim.tune.storage import OWNER, open_storage, owner_tag, recover_orphans


@dataclass(frozen=True)
class TuneSetup:
    """A study of the experiment's policy (`experiment.config.policy`) on `objective`."""

    experiment: Experiment
    n_trials: int
    objective: str = "attainment"
    jobs: int = 1
    storage: str | None = None
    study_name: str = "hexsim"
    sampler: str = "tpe"
    seed: int = 0


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "cmaes":
        if importlib.util.find_spec("cmaes") is None:
            raise ParameterError("sampler", "cmaes needs the cmaes package: pip install 'hexsim[cmaes]'")
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        try:
            import torch  # noqa: F401  (GPSampler needs it)
        except ImportError:
            raise ParameterError("sampler", "gp needs PyTorch: pip install 'hexsim[gp]'") from None
        return optuna.samplers.GPSampler(seed=seed)
    raise ParameterError("sampler", f"unknown sampler {name!r} (expected one of {', '.join(SAMPLERS)})")


def complete_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def completed(study: optuna.Study) -> int:
    return len(complete_trials(study))


def open_study(setup: TuneSetup, sampler_seed: int) -> optuna.Study:
    return optuna.create_study(
        storage=open_storage(setup.storage),
        study_name=setup.study_name,
        direction=OBJECTIVES[setup.objective],
        sampler=make_sampler(setup.sampler, sampler_seed),
        load_if_exists=True,
    )


class _Termination:
    """SIGTERM in a worker. A trial that is simulating stops at once (failed, recorded, not counted,
    as Optuna ends an interrupted trial). One that arrives while Optuna writes to the storage only
    stops the study after the write: an exception raised in the middle of a journal write can leave
    its lock file half released, and the worker dies with a traceback."""

    def __init__(self) -> None:
        self.simulating = False
        self.requested = False

    def handle(self, signum: int, frame: object) -> None:
        optuna.logging.set_verbosity(optuna.logging.ERROR)  # the trial's failure is ours: no warning for it
        self.requested = True
        if self.simulating:
            self.simulating = False
            raise KeyboardInterrupt

    def begin(self) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.simulating = True

    def end(self) -> None:
        self.simulating = False

    def stop(self, study: optuna.Study, trial: object) -> None:
        if self.requested:
            study.stop()


def run_trials(
    study: optuna.Study, setup: TuneSetup, count: int, callbacks=(), termination: _Termination | None = None
) -> None:
    """Run `count` trials in this process; each records its owner so orphans can be recovered."""

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr(OWNER, owner_tag())
        config = suggest_config(trial, setup.experiment.config.policy)
        if termination is None:
            return score(replace(setup.experiment, config=config), setup.objective)
        termination.begin()
        try:
            return score(replace(setup.experiment, config=config), setup.objective)
        finally:
            termination.end()

    if termination is not None:
        callbacks = [*callbacks, termination.stop]
    if count > 0:
        study.optimize(objective, n_trials=count, callbacks=list(callbacks))


def _worker(setup: TuneSetup, index: int, count: int) -> None:
    # Workers start with Ctrl-C ignored (see `tune`); the parent stops them with SIGTERM.
    termination = _Termination()
    signal.signal(signal.SIGTERM, termination.handle)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with suppress(KeyboardInterrupt):
        run_trials(open_study(setup, setup.seed + index), setup, count, termination=termination)


def _missing_starting_points(study: optuna.Study, n_trials: int, policy: str) -> list[dict]:
    """The starting points no trial has completed or is about to run (all of them in a new study)."""
    taken = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    tried = [t.system_attrs.get("fixed_params", t.params) for t in study.get_trials(deepcopy=False, states=taken)]
    return [point for point in starting_points(policy)[:n_trials] if point not in tried]


def tune(setup: TuneSetup, on_progress: Callable[[int], None] = lambda done: None) -> optuna.Study:
    """Finish the study to `n_trials` completed trials (resuming whatever the storage holds)."""
    make_sampler(setup.sampler, setup.seed)
    if setup.jobs > 1 and setup.storage is None:
        with tempfile.TemporaryDirectory() as folder:
            shared = replace(setup, storage=f"journal:{os.path.join(folder, 'study.log')}")
            study = tune(shared, on_progress)
            return _in_memory_copy(study)
    study = open_study(setup, setup.seed)
    if setup.storage is not None:
        recover_orphans(study)
    points = _missing_starting_points(study, setup.n_trials, setup.experiment.config.policy)
    if points:
        # Run here, before any worker starts: SQLite cannot stop two workers popping one queued trial.
        for params in points:
            study.enqueue_trial(params)
        run_trials(study, setup, len(points), [lambda s, _: on_progress(completed(s))])
    remaining = setup.n_trials - completed(study)
    on_progress(completed(study))
    if setup.jobs == 1:
        run_trials(study, setup, remaining, [lambda s, _: on_progress(completed(s))])
        return study
    quotas = [remaining // setup.jobs + (1 if i < remaining % setup.jobs else 0) for i in range(setup.jobs)]
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_worker, args=(setup, i, q)) for i, q in enumerate(quotas) if q > 0]
    # Ctrl-C reaches every process of the terminal; the parent alone answers it. A worker
    # inherits the ignored SIGINT through exec, so it is deaf to it from its first instruction.
    answer = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for worker in workers:
            worker.start()
    finally:
        signal.signal(signal.SIGINT, answer)
    try:
        while any(w.is_alive() for w in workers):
            time.sleep(0.5)
            on_progress(completed(study))
    except KeyboardInterrupt:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join()
        raise
    for worker in workers:
        worker.join()
    failed = [w.exitcode for w in workers if w.exitcode]
    if failed:
        raise InputError("tune", f"{len(failed)} worker process(es) failed (exit codes {failed})")
    on_progress(completed(study))
    return study


def _in_memory_copy(study: optuna.Study) -> optuna.Study:
    copy = optuna.create_study(direction=study.direction)
    copy.add_trials(study.get_trials())
    return copy
