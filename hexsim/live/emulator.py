"""Serve an emulated vLLM engine: from the command line, or on a free port in a thread for tests.

The engine (`emulated_engine.py`) batches like vLLM v1, with the simulator's engine model, on
the wall clock; `emulator_app.py` puts vLLM's OpenAI-compatible HTTP surface in front of it.
"""

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from hexsim.errors import InputError
from hexsim.live.emulator_app import Limits, create_app
from hexsim.profiles.latency import Profile

STARTUP_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 5.0


def _listen(host: str, port: int) -> socket.socket:
    # An explicit IPPROTO_TCP: asyncio disables Nagle's algorithm only on sockets that say so, and with
    # it on, a token written while the previous one is unacknowledged waits for a delayed ACK (~40 ms).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise InputError(f"{host}:{port}", f"cannot listen there: {error.strerror or error}") from None
    return sock


def serve(
    profile: Profile,
    model_name: str,
    host: str,
    port: int,
    scheduling: str = "fcfs",
    time_scale: float = 1.0,
    limits: Limits | None = None,
) -> None:
    """Serve an emulated engine until interrupted (Ctrl-C or SIGTERM: streams still open are cut
    after SHUTDOWN_TIMEOUT_S)."""
    app = create_app(profile, model_name, scheduling, time_scale, limits)
    sock = _listen(host, port)
    config = uvicorn.Config(app, log_level="info", access_log=False, timeout_graceful_shutdown=SHUTDOWN_TIMEOUT_S)
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    logging.getLogger("uvicorn.error").info("Emulating %s at %s (Press CTRL+C to quit)", model_name, url)
    uvicorn.Server(config).run(sockets=[sock])


@contextmanager
def emulator_in_thread(
    profile: Profile,
    model_name: str,
    host: str = "127.0.0.1",
    scheduling: str = "fcfs",
    time_scale: float = 1.0,
    limits: Limits | None = None,
) -> Iterator[str]:
    """Serve an emulated engine on a free port in a background thread; yields its base URL."""
    app = create_app(profile, model_name, scheduling, time_scale, limits)
    sock = _listen(host, 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=SHUTDOWN_TIMEOUT_S)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the engine emulator did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT_S + 1.0)
        sock.close()
