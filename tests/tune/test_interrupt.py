"""Ctrl-C during `hexsim tune --jobs 2`: one line, a consistent storage, and a rerun that finishes the study."""

import contextlib
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from hexsim.tune.runner import TuneSetup, _Termination, run_trials
from hexsim.tune.storage import open_storage
from tests.tune.helpers import small_experiment


def trials(url: str) -> list:
    if not optuna.get_all_study_names(open_storage(url)):
        return []
    return optuna.load_study(study_name="s", storage=open_storage(url)).get_trials(deepcopy=False)


@pytest.mark.slow
def test_ctrl_c_prints_one_line_and_a_rerun_completes_the_study(tmp_path):
    url = f"journal:{tmp_path / 'study.log'}"
    args = ["tune", "--trials", "40", "--rates", "0.03", "0.04", "--seeds", "1", "--jobs", "2", "--storage", url]
    args += ["--study", "s"]
    args += ["--out", str(tmp_path / "tuned.toml")]
    command = [sys.executable, "-m", "hexsim.cli", *args]
    # A session of its own: Ctrl-C in a terminal signals the whole foreground process group.
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    run = subprocess.Popen(command, cwd=tmp_path, start_new_session=True, **pipes)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and run.poll() is None:
            found = trials(url)
            done = sum(t.state == TrialState.COMPLETE for t in found)
            if done >= 7 and any(t.state == TrialState.RUNNING for t in found):
                break
            time.sleep(0.2)
        assert run.poll() is None, "the study ended before it could be interrupted"
        os.killpg(run.pid, signal.SIGINT)
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 130, err
    assert err.decode().splitlines() == ["hexsim: interrupted"], err.decode()
    assert not (tmp_path / "tuned.toml").exists()
    left = trials(url)
    assert not [t for t in left if t.state in (TrialState.RUNNING, TrialState.WAITING)], "trials left in flight"
    assert sum(t.state == TrialState.COMPLETE for t in left) < 40

    rerun = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert sum(t.state == TrialState.COMPLETE for t in trials(url)) == 40


def termination_during(method: str, monkeypatch) -> tuple[optuna.Study, int]:
    """Run trials in a worker's way with SIGTERM arriving inside the storage's `method`, once."""
    termination = _Termination()
    storage = optuna.storages.InMemoryStorage()
    original = getattr(storage, method)
    calls = [0]

    def write(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 2:
            termination.handle(signal.SIGTERM, None)
        return original(*args, **kwargs)

    monkeypatch.setattr(storage, method, write)
    study = optuna.create_study(storage=storage, direction="maximize")
    setup = TuneSetup(small_experiment(queries=8), n_trials=5)
    with contextlib.suppress(KeyboardInterrupt):
        run_trials(study, setup, 5, termination=termination)
    return study, calls[0]


@pytest.mark.parametrize("method", ["set_trial_state_values", "create_new_trial"])
def test_sigterm_during_a_storage_write_lets_the_write_finish_and_starts_no_trial(method, monkeypatch):
    # The write completes and no exception escapes it; the study then stops: the trial the
    # signal met, if it had not begun simulating, fails at its start, recorded and not counted.
    study, writes = termination_during(method, monkeypatch)
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert writes >= 2 and TrialState.RUNNING not in states
    assert states.count(TrialState.COMPLETE) <= 2 and len(states) <= 2


def test_sigterm_while_a_trial_simulates_stops_it_at_once():
    termination = _Termination()
    termination.begin()
    with pytest.raises(KeyboardInterrupt):
        termination.handle(signal.SIGTERM, None)
    with pytest.raises(KeyboardInterrupt):
        termination.begin()  # and no later trial begins
