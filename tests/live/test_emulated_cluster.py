"""A whole emulated cluster: an emulator per instance, each with its own profile, in one process."""

import asyncio
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hexsim.cluster import load_cluster
from hexsim.errors import InputError
from hexsim.live.emulated_cluster import cluster_in_thread, serve_cluster
from hexsim.live.server import SHUTDOWN_TIMEOUT_S
from tests.live.shutdown import sigterm_with_a_stream_open

PAPER = Path(__file__).parents[2] / "clusters" / "paper.toml"
MODEL = "meta-llama/Llama-3.1-8B-Instruct"
PROMPT_TOKENS, OUTPUT_TOKENS = 500, 10
SLACK_S = 0.030  # the HTTP round trip and the last sleep's overshoot, four emulators sharing a loop


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cluster_file(folder: Path, *urls: str) -> Path:
    """Llama-3.1-8B on an L4 and an A100, at `urls`."""
    path = folder / "cluster.toml"
    entries = "".join(
        f'[[instances]]\ngpu = "{gpu}"\nurl = "{url}"\n\n' for gpu, url in zip(("L4", "A100"), urls, strict=True)
    )
    path.write_text(f'model = "{MODEL}"\n\n{entries}')
    return path


def prompt_tokens_counted(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return next(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "vllm:prompt_tokens_total"
    )


async def latencies(urls: list[str], model: str, attempt: int) -> list[float]:
    """One request sent to every emulator at once, with a prompt no attempt before sent (so
    nothing of it is in the prefix cache); the latency of each."""
    body = {"model": model, "prompt": [2 + attempt] + [1] * (PROMPT_TOKENS - 1), "max_tokens": OUTPUT_TOKENS}

    async def timed(client: httpx.AsyncClient, url: str) -> float:
        sent = time.perf_counter()
        response = await client.post(f"{url}/v1/completions", json=body)
        assert response.status_code == 200, response.text
        return time.perf_counter() - sent

    async with httpx.AsyncClient(timeout=10) as client:
        await asyncio.gather(*(client.get(f"{url}/health") for url in urls))  # connections opened beforehand
        return await asyncio.gather(*(timed(client, url) for url in urls))


def test_every_instance_of_the_paper_cluster_answers_in_its_own_profile_s_time():
    cluster = load_cluster(PAPER)
    with cluster_in_thread(cluster) as live:
        urls = [instance.url for instance in live.instances]
        assert len(set(urls)) == len(cluster.instances) and all(u.startswith("http://127.0.0.1:") for u in urls)
        for url in urls:
            (card,) = httpx.get(f"{url}/v1/models").json()["data"]
            assert card["id"] == cluster.model
        attempts = [asyncio.run(latencies(urls, cluster.model, attempt)) for attempt in range(3)]
        counted = [prompt_tokens_counted(url) for url in urls]
    # The A100s take 0.37 s, the L40S 0.67 s and the A6000 0.82 s; stalls only add time.
    for i, instance in enumerate(cluster.instances):
        expected = instance.profile.standalone_time(PROMPT_TOKENS, OUTPUT_TOKENS)
        fastest = min(attempt[i] for attempt in attempts)
        assert expected - 0.002 <= fastest <= expected + SLACK_S, (instance.name, fastest, expected)
    assert counted == [3 * PROMPT_TOKENS] * len(urls)  # each engine saw its own three requests


def test_a_url_that_cannot_be_served_stops_everything_before_it_starts(tmp_path):
    first = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = f"http://127.0.0.1:{taken.getsockname()[1]}"
        cluster = load_cluster(cluster_file(tmp_path, f"http://127.0.0.1:{first}", busy))
        with pytest.raises(InputError) as error:
            serve_cluster(cluster, "cluster.toml")
    assert str(error.value).startswith(f"cluster.toml: instance 'a100-80gb': url {busy}: cannot listen there")
    with socket.socket() as again:
        again.bind(("127.0.0.1", first))  # the first instance's socket was closed


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("https://127.0.0.1:8001", "serves plain http, not https"),
        ("http://127.0.0.1:8001/v1", "serves at the root, not under /v1"),
        ("http://example.com:8001", "example.com is not local"),
        ("http://192.0.2.1:8001", "192.0.2.1 is not an address of this machine"),
    ],
)
def test_a_url_the_emulator_cannot_serve_is_refused(tmp_path, url, needle):
    cluster = load_cluster(cluster_file(tmp_path, f"http://127.0.0.1:{free_port()}", url))
    with pytest.raises(InputError, match=needle) as error:
        serve_cluster(cluster, "cluster.toml")
    assert f"instance 'a100-80gb': url {url}" in str(error.value)


def test_an_instance_without_a_url_is_refused(tmp_path):
    path = tmp_path / "cluster.toml"
    path.write_text(f'model = "{MODEL}"\n\n[[instances]]\ngpu = "L4"\nname = "spare"\n')
    with pytest.raises(InputError, match="instance 'spare': has no url"):
        serve_cluster(load_cluster(path), str(path))


def wait_for_lines(stream, count: int, timeout: float) -> list[str]:
    """The first `count` lines of a child's output, read in a thread so that a silent child cannot hang the test."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(stream.readline() for _ in range(count)), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines


def start(path: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "hexsim.cli", "emulate", "--cluster", str(path), "--time-scale", "2"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_the_command_serves_every_instance_and_sigterm_stops_them_all(tmp_path):
    urls = [f"http://127.0.0.1:{free_port()}", f"http://localhost:{free_port()}"]
    server = start(cluster_file(tmp_path, *urls))
    try:
        lines = wait_for_lines(server.stdout, 3, 30)
        assert lines[0].startswith("Emulating 2 instances")
        assert [line.split() for line in lines[1:]] == [["l4", "L4", urls[0]], ["a100-80gb", "A100-80GB", urls[1]]]
        assert all(len(line.rstrip("\n")) <= 80 for line in lines)
        for url in urls:
            assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        sigterm_with_a_stream_open(server, urls[1])
        assert server.returncode == -signal.SIGTERM  # stopped, then SIGTERM's own handling, as uvicorn does
        for url in urls:
            with pytest.raises(httpx.TransportError):
                httpx.get(f"{url}/health", timeout=1)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stdout.close()
        server.stderr.close()


@pytest.mark.slow
def test_ctrl_c_stops_the_command_with_status_130(tmp_path):
    server = start(cluster_file(tmp_path, f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"))
    try:
        assert len(wait_for_lines(server.stdout, 3, 30)) == 3
        server.send_signal(signal.SIGINT)
        server.wait(timeout=SHUTDOWN_TIMEOUT_S + 10)
        assert server.returncode == 130
        assert server.stderr.read().splitlines()[-1] == "hexsim: interrupted"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stdout.close()
        server.stderr.close()
