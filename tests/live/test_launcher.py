"""`hexsim launch` as a process, with a stand-in for `vllm serve` (fake_vllm.py): it starts what
--dry-run prints, and whatever ends it (SIGTERM, an engine that dies, one that never comes up)
leaves no process behind, an engine's own children included."""

import json
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.live.launch_helpers import ENGINES, HEXSIM, heterogeneous_cluster, launched, running
from tests.live.processes import free_ports

FAKE = Path(__file__).with_name("fake_vllm.py")

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


def setup(tmp_path: Path, *fake_options: str) -> tuple[list[str], list[int]]:
    ports = free_ports(5)
    cluster = heterogeneous_cluster(tmp_path, ports[:4])
    engine = shlex.join([sys.executable, str(FAKE), *fake_options])
    args = ["--cluster", str(cluster), "--engine-command", engine, "--port", str(ports[4])]
    return [*args, "--log-dir", str(tmp_path / "logs"), "--grace", "3"], ports


def records(tmp_path: Path) -> dict[str, dict]:
    """What each engine said it got (its first log line)."""
    return {name: json.loads((tmp_path / "logs" / f"{name}.log").read_text().splitlines()[0]) for name in ENGINES}


@pytest.mark.slow
def test_launch_starts_what_dry_run_prints_and_sigterm_stops_every_process(tmp_path):
    args, ports = setup(tmp_path)
    dry = subprocess.run([*HEXSIM, "launch", *args, "--dry-run"], capture_output=True, text=True, timeout=30)
    assert dry.returncode == 0, dry.stderr
    printed = [shlex.split(line) for line in dry.stdout.splitlines()]
    with launched(args, tmp_path) as launch:
        launch.wait_for("Gateway ready", 60)
        got = records(tmp_path)
        for name, line in zip(ENGINES, printed, strict=False):
            assert line[0] == f"CUDA_VISIBLE_DEVICES={got[name]['cuda']}"
            assert line[1:3] == [sys.executable, str(FAKE)] and line[3:] == got[name]["argv"]
        assert httpx.get(f"http://127.0.0.1:{ports[4]}/health", timeout=5).status_code == 200
        pids = launch.pids
        assert set(pids) == {*ENGINES, "gateway"}
        children = [record["child"] for record in got.values()]
        assert all(running(pid) for pid in [*pids.values(), *children])
        launch.process.send_signal(signal.SIGTERM)
        assert launch.finish(30) == -signal.SIGTERM
    assert launch.lines[-1] == "Stopped"
    assert not [pid for pid in [*pids.values(), *children] if running(pid)]


def test_an_engine_that_dies_stops_the_others_and_is_named_with_its_log(tmp_path):
    args, ports = setup(tmp_path)
    args[args.index("--engine-command") + 1] += f" --exit 3 --only-port {ports[2]}"
    with launched(args, tmp_path) as launch:
        assert launch.finish(60) == 2
    error = launch.lines[-1]
    log = tmp_path / "logs" / "l40s.log"
    assert error == f"hexsim: error: l40s: exited with status 3 before it answered /health; its log: {log}"
    assert "gateway" not in launch.pids
    assert not [pid for pid in launch.pids.values() if running(pid)]


@pytest.mark.slow
def test_an_engine_that_never_answers_is_given_up_and_one_deaf_to_sigterm_killed(tmp_path):
    args, ports = setup(tmp_path)
    args[args.index("--engine-command") + 1] += f" --never-healthy --ignore-sigterm --only-port {ports[3]}"
    begun = time.monotonic()
    with launched([*args, "--health-timeout", "4"], tmp_path) as launch:
        assert launch.finish(60) == 2
    url = f"http://127.0.0.1:{ports[3]}/health"
    assert launch.lines[-1].startswith(f"hexsim: error: a6000: no answer to GET {url} within 4 s (--health-timeout)")
    # The deaf engine held on through the grace period (3 s) after the timeout, then was killed.
    assert time.monotonic() - begun >= 4 + 3
    children = [record["child"] for record in records(tmp_path).values()]
    assert not [pid for pid in [*launch.pids.values(), *children] if running(pid)]


def test_a_port_in_use_stops_launch_before_anything_starts(tmp_path):
    args, ports = setup(tmp_path)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports[4]))
        holder.listen()
        done = subprocess.run([*HEXSIM, "launch", *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    in_use = f"cannot listen at 127.0.0.1:{ports[4]} on this machine: Address already in use"
    assert done.stderr == f"hexsim: error: gateway: {in_use}\n"
    assert not (tmp_path / "logs").exists()
