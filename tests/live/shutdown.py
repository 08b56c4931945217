"""Stopping an emulator process while a stream is open, as Ctrl-C or a service manager does."""

import signal
import subprocess
import threading
import time

import httpx

from hexsim.live.server import SHUTDOWN_TIMEOUT_S


def sigterm_with_a_stream_open(server: subprocess.Popen, url: str) -> None:
    """Open a stream of minutes of decoding at `url`, send the server SIGTERM once its first token
    is back, and require the process to end within the shutdown timeout (plus slack)."""
    first = threading.Event()

    def long_stream() -> None:
        body = {"prompt": [1, 2, 3], "max_tokens": 20000, "ignore_eos": True, "stream": True}
        try:
            with httpx.stream("POST", f"{url}/v1/completions", json=body, timeout=60) as response:
                for _ in response.iter_lines():
                    first.set()
        except httpx.HTTPError:
            pass

    threading.Thread(target=long_stream, daemon=True).start()
    assert first.wait(20), "the stream never started"
    stopping = time.monotonic()
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=SHUTDOWN_TIMEOUT_S + 10)
    assert time.monotonic() - stopping <= SHUTDOWN_TIMEOUT_S + 5
