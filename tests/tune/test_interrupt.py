"""Ctrl-C during `hexsim tune --jobs 2`: one line, a consistent storage, and a rerun that finishes the study."""

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from hexsim.tune.storage import open_storage


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
