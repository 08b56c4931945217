"""Emulate a whole cluster: an engine emulator per instance, all in one process and one event loop.

Each instance's emulator has its profile and its model's limits (`emulator.model_limits`) and
serves the model under its name. `serve_cluster` puts each at its instance's url until Ctrl-C
or SIGTERM, which stop them all at once (streams still open are cut after
SHUTDOWN_TIMEOUT_S); `cluster_in_thread` starts them on free ports in a background thread for
tests. Every socket is bound before any server starts, so a url that cannot be served stops
everything before it begins. uvicorn picks uvloop and httptools when they are installed.
"""

import asyncio
import errno
import ipaddress
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from urllib.parse import urlsplit

import uvicorn

from hexsim.cluster import ClusterSpec, InstanceSpec
from hexsim.errors import InputError
from hexsim.live.emulator import model_limits
from hexsim.live.emulator_app import create_app
from hexsim.live.server import SHUTDOWN_TIMEOUT_S, STARTUP_TIMEOUT_S, bound_socket


class _Server(uvicorn.Server):
    """One emulator of a cluster: signals are the cluster's to handle, for all its servers at once."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve_cluster(
    cluster: ClusterSpec,
    source: str,
    scheduling: str = "fcfs",
    time_scale: float = 1.0,
    stream_interval: int = 1,
    listening: Callable[[], None] | None = None,
) -> None:
    """Serve an emulator at each instance's url until interrupted; `listening` is called once all listen.

    InputError, naming `source` (the cluster file), the instance and its url, if an instance
    has no url or one that cannot be served here. After a signal has stopped every server, it
    is raised again with its usual handler, as uvicorn does for one server.
    """
    sockets = _bind_urls(cluster, source)
    caught: list[int] = []
    try:
        servers = _servers(cluster, scheduling, time_scale, stream_interval)

        def stop(sig: int, _frame: object) -> None:
            caught.append(sig)
            for server in servers:
                if server.should_exit and sig == signal.SIGINT:
                    server.force_exit = True  # a second Ctrl-C: do not wait for open streams
                server.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            with asyncio.Runner(loop_factory=servers[0].config.get_loop_factory()) as runner:
                runner.run(_serve_all(servers, sockets, listening))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        for sock in sockets:
            sock.close()
    if caught:
        signal.raise_signal(caught[0])


@contextmanager
def cluster_in_thread(
    cluster: ClusterSpec,
    host: str = "127.0.0.1",
    scheduling: str = "fcfs",
    time_scale: float = 1.0,
    stream_interval: int = 1,
) -> Iterator[ClusterSpec]:
    """Serve an emulator per instance on free ports of `host`, all in one background thread;
    yields the cluster with each instance's url set to its emulator's. They all stop on exit."""
    sockets: list[socket.socket] = []
    try:
        sockets += [bound_socket(host, 0) for _ in cluster.instances]
        servers = _servers(cluster, scheduling, time_scale, stream_interval)
        listening = threading.Event()

        def run() -> None:
            with asyncio.Runner(loop_factory=servers[0].config.get_loop_factory()) as runner:
                runner.run(_serve_all(servers, sockets, listening.set))

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while not listening.wait(0.01):
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"the emulated cluster did not start on {host}")
            urls = [_url(host, sock.getsockname()[1]) for sock in sockets]
            yield replace(
                cluster, instances=tuple(replace(i, url=u) for i, u in zip(cluster.instances, urls, strict=True))
            )
        finally:
            for server in servers:
                server.should_exit = True
            thread.join(SHUTDOWN_TIMEOUT_S + 1.0)
    finally:
        for sock in sockets:
            sock.close()


def _servers(cluster: ClusterSpec, scheduling: str, time_scale: float, stream_interval: int) -> list[_Server]:
    servers = []
    for instance in cluster.instances:
        limits = model_limits(instance.profile)
        app = create_app(
            instance.profile, instance.model, scheduling, time_scale, limits, stream_interval, instance.prefix_caching
        )
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, timeout_graceful_shutdown=SHUTDOWN_TIMEOUT_S
        )
        servers.append(_Server(config))
    return servers


async def _serve_all(
    servers: list[_Server], sockets: list[socket.socket], listening: Callable[[], None] | None
) -> None:
    """Run every server until all have stopped; call `listening` once they all listen."""

    async def announce() -> None:
        while not all(server.started for server in servers):
            await asyncio.sleep(0.01)
        if listening is not None:
            listening()

    announcer = asyncio.create_task(announce())
    try:
        await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in zip(servers, sockets, strict=True)))
    finally:
        announcer.cancel()


def _bind_urls(cluster: ClusterSpec, source: str) -> list[socket.socket]:
    sockets: list[socket.socket] = []
    try:
        for instance in cluster.instances:
            sockets.append(_bind_url(instance, source))
    except InputError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _bind_url(instance: InstanceSpec, source: str) -> socket.socket:
    """A socket bound where the instance's url says, which must be plain http on this machine."""
    where = f"{source}: instance {instance.name!r}"
    url = instance.url
    if url is None:
        raise InputError(where, "has no url (emulate --cluster serves each instance at its url)")
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise InputError(where, f"url {url}: the emulator serves plain http, not {parts.scheme}")
    if parts.path:
        raise InputError(where, f"url {url}: the emulator serves at the root, not under {parts.path}")
    host = parts.hostname
    if host != "localhost" and not _is_address(host):
        raise InputError(where, f"url {url}: {host} is not local (give localhost or an address of this machine)")
    try:
        return bound_socket(host, parts.port or 80)
    except OSError as error:
        if error.errno == errno.EADDRNOTAVAIL:
            raise InputError(where, f"url {url}: {host} is not an address of this machine") from None
        raise InputError(where, f"url {url}: cannot listen there: {error.strerror or error}") from None


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
