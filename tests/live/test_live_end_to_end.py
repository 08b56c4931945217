"""The whole live half on loopback, against the simulator's predictions.

Four emulated engines with the paper cluster's profiles (time-scaled), hexsim's gateway running
hexgen in front of them and the replayer sending 40 queries of a published CHESS trace, all
as a user runs them (`hexsim emulate --cluster`, `hexsim serve`, `hexsim replay`): every query
completes, and attainment and P95 latency are the simulator's for the same cluster, trace,
rate and seed. The same replay straight at the engines, round-robin, is worse by the margin
the simulator predicts.

Round-robin's one run is not one number: which engine a call lands on depends on the order
calls are sent, and moving arrivals by half a second moves its P95 by 13% (coefficient of
variation over 100 simulations, 204-386 s; hexgen's moves 4%). A live run shifts every call by
a few milliseconds of HTTP, times the time scale, so round-robin's attainment and P95 are held
to the range 48 simulations give under such shifts (P95 widened by 10%, attainment by 10
points; a draw exceeds the largest of n draws like it one time in n + 1), and its throughput
margin, which is steady (3%), to within 10% of the simulator's.

Each live run is held to its own policy's simulations, not their ratio: the two live runs'
noises are independent, so their P95 ratio swings wider than the ratios of simulations that
share their shifted arrivals (a round-robin P95 1.9 sd high over a hexgen P95 2 sd low, each
within its own range, made 3.27 against 16 simulations' 1.67-2.97).
"""

import contextlib
import io
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hexsim.cli import main
from hexsim.cluster import load_cluster
from hexsim.experiment import Experiment
from hexsim.metrics.summary import attainment
from hexsim.scheduler.registry import get_policy
from hexsim.sim.simulate import simulate
from hexsim.workload.traces import load_trace, save_trace
from tests.live.processes import free_ports, running, wait_healthy

SHARED_TRACE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "traces" / "chess_bird_trace1.json"
# Each call costs a few milliseconds of HTTP, which a time scale multiplies into model seconds and
# into chaos (which instance a call lands on). hexgen's run is held to 10% of the simulator: at 25
# its P95 came out 0.95-1.15x the simulator's over six runs (one in three outside 10%), at 15
# 0.95-1.05x over five (mean 1.00); so it runs at 15 (47 s). Round-robin's, held to the simulator's range, at 60.
TIME_SCALE = {"hexgen": 15.0, "vllm": 60.0}
RATE = 0.08  # queries/s: hexgen meets most SLOs, round-robin falls behind
QUERIES = 40
HEXSIM = [sys.executable, "-m", "hexsim.cli"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SHARED_TRACE.exists(), reason="needs ../shared/data (the published CHESS traces)"),
]


def cluster_file(folder: Path, urls: list[str]) -> Path:
    path = folder / "cluster.toml"
    path.write_text(
        'model = "meta-llama/Llama-3.1-70B-Instruct"\n'
        f'[[instances]]\ngpu = "A100"\nname = "a100"\ncount = 2\nurls = ["{urls[0]}", "{urls[1]}"]\n'
        f'[[instances]]\ngpu = "A6000"\nname = "a6000"\nurl = "{urls[2]}"\n'
        f'[[instances]]\ngpu = "L40S"\nname = "l40s"\nurl = "{urls[3]}"\n'
    )
    return path


def replay(targets: list[str], cluster: Path, trace: Path, out: Path, label: str) -> dict:
    command = [*HEXSIM, "replay", "--cluster", str(cluster), "--trace", str(trace), "--rate", str(RATE)]
    command += ["--time-scale", str(TIME_SCALE[label]), "--label", label, "--out", str(out), "--json"]
    for target in targets:
        command += ["--target", target]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["policies"][label]


def simulated(cluster: Path, trace: Path) -> dict:
    argv = ["simulate", "--cluster", str(cluster), "--trace", str(trace), "--rate", str(RATE), "--json"]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main([*argv, "--policy", "hexgen", "--policy", "vllm"]) == 0
    return json.loads(out.getvalue())["policies"]


def under_shifted_arrivals(cluster: Path, trace: Path, runs: int = 48, shift: float = 0.5) -> list[dict]:
    """Per run, each policy's (attainment, P95), arrivals moved by up to `shift` s."""
    experiment = Experiment.create(load_cluster(cluster), load_trace(trace))
    arrived = experiment.sample(RATE, 0)
    results = []
    for k in range(runs):
        moves = np.random.default_rng(k).uniform(0.0, shift, len(arrived))
        queries = [replace(q, arrival=q.arrival + move) for q, move in zip(arrived, moves, strict=True)]
        runs_of = {
            name: simulate(experiment.cluster, queries, get_policy(name), experiment.slo).queries
            for name in ("hexgen", "vllm")
        }
        results.append(
            {
                name: (attainment(records, experiment.slo), np.percentile([r.latency for r in records], 95))
                for name, records in runs_of.items()
            }
        )
    return results


def test_the_gateway_on_emulated_engines_meets_the_simulators_prediction(tmp_path):
    trace = tmp_path / "trace40.jsonl"
    save_trace(load_trace(SHARED_TRACE)[:QUERIES], trace)
    *engine_ports, gateway_port = free_ports(5)
    urls = [f"http://127.0.0.1:{port}" for port in engine_ports]
    cluster = cluster_file(tmp_path, urls)
    gateway = f"http://127.0.0.1:{gateway_port}"
    emulate = [*HEXSIM, "emulate", "--cluster", str(cluster)]
    serve = [*HEXSIM, "serve", "--cluster", str(cluster), "--time-scale", str(TIME_SCALE["hexgen"])]
    serve += ["--port", str(gateway_port)]

    with running([*emulate, "--time-scale", str(TIME_SCALE["hexgen"]), "--scheduling-policy", "priority"]) as engines:
        for url in urls:
            wait_healthy(url, engines)
        with running(serve) as server:
            wait_healthy(gateway, server)
            live = {"hexgen": replay([gateway], cluster, trace, tmp_path / "hexgen", "hexgen")}
    with running([*emulate, "--time-scale", str(TIME_SCALE["vllm"]), "--scheduling-policy", "fcfs"]) as engines:
        for url in urls:
            wait_healthy(url, engines)
        live["vllm"] = replay(urls, cluster, trace, tmp_path / "vllm", "vllm")
    predicted = simulated(cluster, trace)

    for policy in ("hexgen", "vllm"):
        assert live[policy]["completed"] == QUERIES
    attainment = {
        name: {k: r["attainment"]["2"] for k, r in runs.items()} for name, runs in (("live", live), ("sim", predicted))
    }
    p95 = {name: {k: r["p95_s"] for k, r in runs.items()} for name, runs in (("live", live), ("sim", predicted))}
    # Attainment moves in steps of one query in 40 (2.5 points): within 10 points.
    assert attainment["live"]["hexgen"] == pytest.approx(attainment["sim"]["hexgen"], abs=0.10), attainment
    assert p95["live"]["hexgen"] == pytest.approx(p95["sim"]["hexgen"], rel=0.10), p95
    shifted = under_shifted_arrivals(cluster, trace)
    gaps = [run["hexgen"][0] - run["vllm"][0] for run in shifted]
    ratios = [run["vllm"][1] / run["hexgen"][1] for run in shifted]
    assert min(gaps) > 0.2 and min(ratios) > 1.5, "the simulator predicts round-robin clearly worse"
    shares, p95s = zip(*(run["vllm"] for run in shifted), strict=True)
    assert min(shares) - 0.10 <= attainment["live"]["vllm"] <= max(shares) + 0.10, (attainment, shares)
    assert 0.9 * min(p95s) <= p95["live"]["vllm"] <= 1.1 * max(p95s), (p95, p95s)
    throughput = {
        name: runs["vllm"]["makespan_s"] / runs["hexgen"]["makespan_s"]
        for name, runs in (("live", live), ("sim", predicted))
    }
    assert throughput["live"] == pytest.approx(throughput["sim"], rel=0.10), throughput
