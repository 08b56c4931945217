"""`hexsim launch --emulate`: emulated engines with the cluster's profiles and the gateway in front
of them serve a replay, and SIGTERM stops every process.

The gateway runs hexgen, which sends each call's urgency as vLLM's `priority`: an engine started
without `--scheduling-policy priority` refuses those calls (as vLLM does), so a replay whose
every query completes shows the launcher started the engines with it."""

import json
import signal
import subprocess
import sys

import pytest

from tests.live.launch_helpers import ENGINES, HEXSIM, heterogeneous_cluster, launched, running
from tests.live.processes import free_ports

TIME_SCALE = 50
QUERIES = 4

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")]


def test_launched_emulators_serve_a_replay_through_the_gateway_and_stop_on_sigterm(tmp_path):
    ports = free_ports(5)
    cluster = heterogeneous_cluster(tmp_path, ports[:4])
    args = ["--cluster", str(cluster), "--emulate", "--time-scale", str(TIME_SCALE), "--port", str(ports[4])]
    with launched([*args, "--log-dir", str(tmp_path / "logs")], tmp_path) as launch:
        launch.wait_for("Gateway ready", 60)
        replay = [*HEXSIM, "replay", "--target", f"http://127.0.0.1:{ports[4]}", "--cluster", str(cluster)]
        replay += ["--queries", str(QUERIES), "--rate", "0.1", "--time-scale", str(TIME_SCALE)]
        done = subprocess.run(
            [*replay, "--out", str(tmp_path / "out"), "--json"], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)["policies"]["live"]
        assert report["completed"] == report["queries"] == QUERIES
        pids = launch.pids
        assert set(pids) == {*ENGINES, "gateway"}
        launch.process.send_signal(signal.SIGTERM)
        assert launch.finish(30) == -signal.SIGTERM
    assert not [name for name, pid in pids.items() if running(pid)]
