"""Run a cluster's engines and its gateway on this machine until a signal, then stop them all.

Every process starts in a session of its own, so in a process group of its own, with its
output in a log file: stopping one signals its whole group, which takes an engine's worker
processes with it, and a Ctrl-C at the terminal reaches the launcher alone, which stops the
gateway first (no new calls), then the engines, each with SIGTERM and, after a grace period,
SIGKILL. The same happens when an engine dies or does not answer GET /health in time.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from hexsim.errors import InputError
from hexsim.live.launch_commands import VLLM_SERVE, Command

POLL_S = 0.25


@dataclass(frozen=True)
class Started:
    command: Command
    process: subprocess.Popen
    log: Path


def resolve_executable(name: str) -> str:
    """The engine's executable, found on PATH or beside this Python (a virtualenv not activated)."""
    search = os.pathsep.join(filter(None, [os.environ.get("PATH"), os.path.dirname(sys.executable)]))
    found = shutil.which(name, path=search)
    if found is None:
        if name == VLLM_SERVE[0]:
            raise InputError(
                "launch", "vLLM is not installed (no 'vllm' command): pip install 'hexsim[vllm]' (or --emulate)"
            )
        raise InputError("--engine-command", f"{name!r}: no such command")
    return found


def check_ports_free(commands: Sequence[Command]) -> None:
    """Each process's port is its own and can be listened on here, before anything starts: otherwise
    whatever holds it would answer /health for an engine that failed."""
    addresses = [urlsplit(command.url) for command in commands]
    owners: dict[int, str] = {}
    for command, address in zip(commands, addresses, strict=True):
        if address.port in owners:
            raise InputError(command.name, f"port {address.port} is also {owners[address.port]}'s: each needs its own")
        owners[address.port] = command.name
    for command, address in zip(commands, addresses, strict=True):
        host, port = address.hostname, address.port
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as error:
                raise InputError(
                    command.name, f"cannot listen at {host}:{port} on this machine: {error.strerror or error}"
                ) from None


def run_cluster(
    engines: list[Command],
    gateway: Command,
    log_dir: Path,
    health_timeout: float,
    grace: float,
    say: Callable[[str], None],
) -> None:
    """Start the engines, wait until each answers /health, start the gateway and wait for it too;
    then run until SIGINT or SIGTERM, which stop everything and are raised again once all is stopped.
    InputError, naming the process and its log, if one exits or does not come up within `health_timeout`."""
    caught: list[int] = []
    stop = threading.Event()

    def on_signal(sig: int, _frame: object) -> None:
        caught.append(sig)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    started: list[Started] = []
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        begun = time.monotonic()
        say(f"Starting {len(engines)} engine{'s' * (len(engines) > 1)} (logs in {log_dir}):")
        started += [_start(command, log_dir, say) for command in engines]
        _wait_healthy(started, health_timeout, stop)
        if not stop.is_set():
            say(f"Engines healthy after {time.monotonic() - begun:.1f} s; starting the gateway:")
            started.append(_start(gateway, log_dir, say))
            _wait_healthy(started[-1:], health_timeout, stop)
        if not stop.is_set():
            say(f"Gateway ready at {gateway.url} (Ctrl-C or SIGTERM stops everything)")
            _watch(started, stop)
    finally:
        if started:
            say("Stopping the gateway, then the engines")
        _stop([s for s in started if s.command is gateway], grace)
        _stop([s for s in started if s.command is not gateway], grace)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    say("Stopped")
    if caught:
        signal.raise_signal(caught[0])


def _start(command: Command, log_dir: Path, say: Callable[[str], None]) -> Started:
    log = log_dir / f"{command.name}.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            command.argv,
            env={**os.environ, **dict(command.env)},
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    say(f"  {command.name}  {command.url}  pid {process.pid}  {log}")
    return Started(command, process, log)


def _wait_healthy(started: list[Started], timeout: float, stop: threading.Event) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(started)
    with httpx.Client(timeout=2.0) as client:
        while waiting and not stop.is_set():
            for s in list(waiting):
                _check_running(s, "before it answered /health")
                try:
                    if client.get(f"{s.command.url}/health").status_code == 200:
                        waiting.remove(s)
                except httpx.HTTPError:
                    pass
            if waiting and time.monotonic() > deadline:
                s = waiting[0]
                raise InputError(
                    s.command.name,
                    f"no answer to GET {s.command.url}/health within {timeout:g} s (--health-timeout); "
                    f"its log: {s.log}",
                )
            if waiting:
                stop.wait(POLL_S)


def _watch(started: list[Started], stop: threading.Event) -> None:
    while not stop.wait(POLL_S):
        for s in started:
            _check_running(s, "")


def _check_running(s: Started, when: str) -> None:
    status = s.process.poll()
    if status is not None:
        said = f"signal {-status}" if status < 0 else f"status {status}"
        raise InputError(s.command.name, f"exited with {said}{' ' + when if when else ''}; its log: {s.log}")


def _stop(started: list[Started], grace: float) -> None:
    """SIGTERM to each process group, SIGKILL to what is left of them after `grace` seconds."""
    for s in started:
        _signal_group(s.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(s) for s in started):
        time.sleep(0.05)
    for s in started:
        _signal_group(s.process.pid, signal.SIGKILL)
        s.process.wait()


def _alive(s: Started) -> bool:
    """Whether the process or anything else of its group is still there (polling reaps the process)."""
    if s.process.poll() is None:
        return True
    try:
        os.killpg(s.process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
