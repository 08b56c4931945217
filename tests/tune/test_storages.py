"""Workers sharing a study through Optuna's storages finish exactly the requested trials."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import optuna
import pytest
from optuna.trial import TrialState

from hexsim.scheduler.config import SchedulerConfig
from hexsim.tune.runner import TuneSetup, tune
from hexsim.tune.space import starting_points, suggest_config
from hexsim.tune.storage import OWNER, open_storage, owner_tag, recover_orphans
from tests.tune.helpers import small_experiment

POSTGRES = os.environ.get("HEXSIM_TEST_POSTGRES")


def storages(tmp_path):
    urls = [f"journal:{tmp_path / 'study.log'}", f"sqlite:///{tmp_path / 'study.db'}"]
    return urls + ([POSTGRES] if POSTGRES else [])


def finished(url: str, name: str) -> list:
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    return study.get_trials(deepcopy=False)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["journal", "sqlite", "postgresql"])
def test_two_worker_processes_complete_exactly_the_requested_trials(tmp_path, kind):
    url = {u.split(":")[0]: u for u in storages(tmp_path)}.get(kind)
    if url is None:
        pytest.skip("set HEXSIM_TEST_POSTGRES to a PostgreSQL URL (CI does)")
    name = f"two-workers-{uuid.uuid4().hex[:8]}"
    study = tune(TuneSetup(small_experiment(), n_trials=11, jobs=2, storage=url, study_name=name))
    trials = finished(url, name)
    numbers = [t.number for t in trials]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 11 == len(trials)
    assert sorted(numbers) == list(range(11))
    workers = {t.user_attrs["hexsim_owner"] for t in trials[6:]}  # the first six are the starting points
    assert len(workers) == 2 and owner_tag() not in workers, "both worker processes ran trials"
    assert study.best_value == max(t.value for t in trials)


def test_rerunning_a_finished_study_adds_nothing_and_a_larger_target_continues(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    setup = TuneSetup(small_experiment(), n_trials=3, storage=url, study_name="resume")
    tune(setup)
    tune(setup)
    assert len(finished(url, "resume")) == 3
    tune(TuneSetup(small_experiment(), n_trials=5, storage=url, study_name="resume"))
    assert sorted(t.number for t in finished(url, "resume")) == list(range(5))


@pytest.mark.slow
def test_a_killed_worker_loses_no_trial_and_none_counts_twice(tmp_path):
    url = f"journal:{tmp_path / 'study.log'}"
    args = [
        sys.executable,
        "-m",
        "hexsim.cli",
        "tune",
        "--trials",
        "6",
        "--seeds",
        "2",
        "--storage",
        url,
        "--study",
        "killed",
        "--out",
        str(tmp_path / "tuned.toml"),
    ]
    worker = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if os.path.exists(tmp_path / "study.log"):
            trials = finished(url, "killed") if _has_study(url) else []
            if any(t.state == TrialState.COMPLETE for t in trials) and any(
                t.state == TrialState.RUNNING for t in trials
            ):
                break
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    before = finished(url, "killed")
    orphan = [t for t in before if t.state == TrialState.RUNNING]
    assert orphan, "the worker was killed in the middle of a trial"

    subprocess.run(args, cwd=tmp_path, check=True, capture_output=True, timeout=300)
    after = finished(url, "killed")
    complete = [t for t in after if t.state == TrialState.COMPLETE]
    assert len(complete) == 6
    assert len({t.number for t in after}) == len(after)
    assert [t.state for t in after if t.number == orphan[0].number] == [TrialState.FAIL]
    retried = [t for t in complete if t.user_attrs.get("retry_of") == orphan[0].number]
    assert len(retried) == 1
    # A starting point comes back whole; a sampled trial keeps what it had drawn.
    assert orphan[0].system_attrs.get("fixed_params", {}).items() <= retried[0].params.items()
    assert orphan[0].params.items() <= retried[0].params.items()


def test_an_orphaned_starting_point_is_retried_with_all_its_parameters(tmp_path):
    # The worker died after drawing alpha alone: the retry must still be the whole starting point.
    study = optuna.create_study(storage=open_storage(f"journal:{tmp_path / 'study.log'}"), direction="maximize")
    point = starting_points("hexgen")[1]
    study.enqueue_trial(point)
    trial = study.ask()
    trial.suggest_float("alpha", 0.0, 1.0)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    trial.set_user_attr(OWNER, f"{socket.gethostname()}:{dead.pid}")
    recover_orphans(study)
    retry = study.ask()
    config = suggest_config(retry, "hexgen")
    assert retry.user_attrs["retry_of"] == trial.number
    assert {k: getattr(config, k) for k in point} == point


def _has_study(url: str) -> bool:
    return bool(optuna.get_all_study_names(open_storage(url)))


def test_hexsim_tunes_its_own_weights_and_starts_from_its_defaults():
    study = optuna.create_study()
    trial = study.ask()
    config = suggest_config(trial, "hexsim")
    weights = {"idle_weight", "eps", "batch_slowdown", "cache_weight", "kv_wait", "home_slack"}
    assert set(trial.params) == weights | {"max_running"}
    assert config.policy == "hexsim" and config.idle_weight == trial.params["idle_weight"]
    default = SchedulerConfig()
    point = {
        "idle_weight": default.idle_weight,
        "eps": default.eps,
        "batch_slowdown": default.batch_slowdown,
        "cache_weight": default.cache_weight,
        "kv_wait": default.kv_wait,
        "home_slack": default.home_slack,
        "max_running": 0,
    }
    grid = [(30.0, 0.5), (300.0, 0.5), (90.0, 0.0), (30.0, 0.0), (10.0, 0.0)]
    assert starting_points("hexsim") == [point] + [point | {"idle_weight": w, "home_slack": h} for w, h in grid]
