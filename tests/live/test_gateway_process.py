"""`hexsim serve` as a process: it drains calls in flight on SIGTERM, and a burst far past its
queue bound is refused without growing it."""

import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.live.processes import free_ports, running, wait_healthy

HEXSIM = [sys.executable, "-m", "hexsim.cli"]
MODEL = "meta-llama/Llama-3.1-70B-Instruct"

pytestmark = pytest.mark.slow


def resident_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


def served(tmp_path: Path, *options: str):
    """An emulated A100 engine, and a gateway process in front of it."""
    engine_port, gateway_port = free_ports(2)
    engine, gateway = f"http://127.0.0.1:{engine_port}", f"http://127.0.0.1:{gateway_port}"
    cluster = tmp_path / "cluster.toml"
    cluster.write_text(f'model = "{MODEL}"\n[[instances]]\ngpu = "A100"\nurl = "{engine}"\n')
    emulate = [*HEXSIM, "emulate", "--model", MODEL, "--gpu", "A100", "--port", str(engine_port)]
    emulate += ["--scheduling-policy", "priority"]
    serve = [*HEXSIM, "serve", "--cluster", str(cluster), "--port", str(gateway_port), *options]
    return engine, gateway, emulate, serve


def completion(url: str, max_tokens: int) -> httpx.Response:
    body = {"model": MODEL, "prompt": [7] * 100, "max_tokens": max_tokens, "ignore_eos": True}
    return httpx.post(f"{url}/v1/completions", json=body, timeout=60)


def test_on_sigterm_the_gateway_stops_accepting_and_finishes_the_calls_in_flight(tmp_path):
    engine, gateway, emulate, serve = served(tmp_path, "--drain-timeout", "30")
    with running(emulate) as engine_process, running(serve) as server:
        wait_healthy(engine, engine_process)
        wait_healthy(gateway, server)
        answers: list[httpx.Response] = []
        call = threading.Thread(target=lambda: answers.append(completion(gateway, 150)))  # seconds of decoding
        call.start()
        time.sleep(1.0)
        server.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(httpx.TransportError):
            completion(gateway, 1)  # no longer accepting
        call.join(60)
        server.wait(30)
    assert answers and answers[0].status_code == 200
    assert answers[0].json()["usage"]["completion_tokens"] == 150


def test_a_burst_of_five_times_the_queue_bound_is_refused_past_it_and_leaves_memory_as_it_was(tmp_path):
    bound = 20
    config = tmp_path / "cap.toml"
    config.write_text('[scheduler]\npolicy = "lor"\nmax_running = 4\n')
    engine, gateway, emulate, serve = served(tmp_path, "--max-queued", str(bound), "--config", str(config))
    with running(emulate) as engine_process, running(serve) as server:
        wait_healthy(engine, engine_process)
        wait_healthy(gateway, server)
        with ThreadPoolExecutor(8) as pool:  # warm up: the code paths a burst takes, loaded once
            list(pool.map(lambda _: completion(gateway, 1), range(16)))
        before = resident_kb(server.pid)
        with ThreadPoolExecutor(5 * bound) as pool:
            codes = list(pool.map(lambda _: completion(gateway, 40).status_code, range(5 * bound)))
        after = resident_kb(server.pid)
    # Four run and `bound` wait while the burst arrives (a call decodes for over a second); the rest
    # are refused.
    assert set(codes) <= {200, 429} and codes.count(200) >= bound + 4 and codes.count(429) >= 3 * bound
    assert after <= 1.10 * before, (before, after)
