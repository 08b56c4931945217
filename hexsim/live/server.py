"""Serving hexsim's ASGI apps (the gateway, the engine emulator) with uvicorn: on a socket from
the command line, or on a free port in a background thread for tests.

uvicorn runs on uvloop and parses HTTP with httptools where they are installed (the `live` extra).
"""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from hexsim.errors import InputError

STARTUP_TIMEOUT_S = 20.0
SHUTDOWN_TIMEOUT_S = 5.0


def bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host`:`port` (OSError if it cannot be); uvicorn makes it listen."""
    # An explicit IPPROTO_TCP: asyncio disables Nagle's algorithm only on sockets that say so, and with
    # it on, a chunk written while the previous one is unacknowledged waits for a delayed ACK (~40 ms).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def listen(host: str, port: int) -> socket.socket:
    """`bound_socket`, or an InputError naming host and port."""
    try:
        return bound_socket(host, port)
    except OSError as error:
        raise InputError(f"{host}:{port}", f"cannot listen there: {error.strerror or error}") from None


def base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def server_config(app, log_level: str = "info", drain_timeout: float = SHUTDOWN_TIMEOUT_S) -> uvicorn.Config:
    """On SIGINT or SIGTERM the server stops accepting, lets requests in flight finish for up to
    `drain_timeout` seconds, then closes."""
    # No proxy-header rewriting: nothing here reads the client's address.
    return uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=drain_timeout,
        lifespan="on",
    )


@contextmanager
def app_in_thread(app, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` on `port` (default a free one) of `host` in a background thread; yields its base
    URL, stops it on exit."""
    sock = listen(host, port)
    port = sock.getsockname()[1]
    server = uvicorn.Server(server_config(app, "warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start on {host}:{port}")
            time.sleep(0.01)
        yield base_url(host, port)
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT_S + 1.0)
        sock.close()
