"""`hexsim emulate` as a user runs it: a stream still open does not keep SIGTERM from stopping it."""

import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.live.shutdown import sigterm_with_a_stream_open


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_sigterm_stops_the_emulator_while_a_long_stream_is_open(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "hexsim.cli", "emulate", "--model", "Llama-3.1-8B", "--gpu", "L4"]
    server = subprocess.Popen([*command, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "the emulator did not start"
            time.sleep(0.1)
        sigterm_with_a_stream_open(server, url)  # 20,000 tokens of an 8B model on an L4: minutes
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stderr.close()
