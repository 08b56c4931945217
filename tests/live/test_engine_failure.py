"""An engine dies in the middle of a replay through the gateway, and comes back.

Three emulated A100 engines (separate processes) behind `hexsim serve`, `hexsim replay` sending
50 queries of the bundled trace; one engine is killed (SIGKILL) once calls are flowing, then
started again on its port. Every query completes, no call is answered twice, the gateway's
/metrics and the replay's report count the calls placed again, and the engine that came back
takes calls again.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.live.processes import free_ports, running, wait_healthy

HEXSIM = [sys.executable, "-m", "hexsim.cli"]
TRACE = Path(__file__).resolve().parents[2] / "traces" / "chess_default.jsonl"
TIME_SCALE = 50.0
QUERIES = 50

pytestmark = pytest.mark.slow


def metric_values(url: str, name: str) -> dict[str, float]:
    """The samples of one metric of the gateway, by instance label."""
    values = {}
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(name + "{"):
            instance = line.split('instance="', 1)[1].split('"', 1)[0]
            values[instance] = float(line.split()[-1])
    return values


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_killed_engine_loses_no_query_and_is_used_again_once_restarted(tmp_path):
    *ports, gateway_port = free_ports(4)
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    cluster = tmp_path / "cluster.toml"
    cluster.write_text(
        'model = "meta-llama/Llama-3.1-70B-Instruct"\n'
        f'[[instances]]\ngpu = "A100"\nname = "a100"\ncount = 3\nurls = {json.dumps(urls)}\n'
    )
    gateway = f"http://127.0.0.1:{gateway_port}"

    def engine(port: int) -> list[str]:
        return [*HEXSIM, "emulate", "--model", "meta-llama/Llama-3.1-70B-Instruct", "--gpu", "A100"] + [
            "--port",
            str(port),
            "--time-scale",
            str(TIME_SCALE),
            "--scheduling-policy",
            "priority",
        ]

    serve = [*HEXSIM, "serve", "--cluster", str(cluster), "--time-scale", str(TIME_SCALE), "--port", str(gateway_port)]
    replay = [*HEXSIM, "replay", "--target", gateway, "--cluster", str(cluster), "--trace", str(TRACE)]
    replay += ["--rate", "0.15", "--queries", str(QUERIES), "--time-scale", str(TIME_SCALE)]
    replay += ["--out", str(tmp_path / "out"), "--json"]
    with running(engine(ports[0])), running(engine(ports[2])):
        with running(engine(ports[1])) as victim:
            for url in urls:
                wait_healthy(url, victim)
            with running(serve) as server:
                wait_healthy(gateway, server)
                replayer = subprocess.Popen(replay, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                try:
                    wait_until(
                        lambda: metric_values(gateway, "hexsim_gateway_calls_in_flight").get("a100-1", 0) >= 2,
                        60,
                        "calls never reached a100-1",
                    )
                    victim.send_signal(signal.SIGKILL)
                    victim.wait(10)
                    wait_until(
                        lambda: metric_values(gateway, "hexsim_engine_up")["a100-1"] == 0,
                        10,
                        "the gateway did not take the killed engine out",
                    )
                    with running(engine(ports[1])) as restarted:
                        wait_healthy(urls[1], restarted)
                        wait_until(
                            lambda: metric_values(gateway, "hexsim_engine_up")["a100-1"] == 1,
                            10,
                            "the gateway did not take the engine back",
                        )
                        after_restart = metric_values(gateway, "hexsim_engine_dispatches_total")["a100-1"]
                        out, err = replayer.communicate(timeout=240)
                        dispatched = metric_values(gateway, "hexsim_engine_dispatches_total")
                        retried = metric_values(gateway, "hexsim_engine_retries_total")
                        metrics = httpx.get(f"{gateway}/metrics", timeout=5).text
                finally:
                    if replayer.poll() is None:
                        replayer.kill()
                        replayer.wait()
    assert replayer.returncode == 0, err
    report = json.loads(out)
    result = report["policies"]["replay"] if "replay" in report["policies"] else next(iter(report["policies"].values()))
    assert result["completed"] == QUERIES
    calls = (tmp_path / "out").glob("calls_*.csv")
    rows = [line.split(",")[:3] for path in calls for line in path.read_text().splitlines()[1:]]
    assert len(rows) == len(set(map(tuple, rows)))  # no call recorded (answered) twice
    # Each call in flight on the killed engine was either placed again by the gateway (nothing had
    # reached the client) or broken off mid-stream and sent again by the replayer.
    broken = sum(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("hexsim_gateway_calls_total{") and 'outcome="broken"' in line
    )
    assert retried["a100-1"] + broken >= 2
    assert (report["setup"]["retries"], report["setup"]["resent"]) == (sum(retried.values()), broken)
    assert dispatched["a100-1"] > after_restart  # the engine that came back takes calls again
