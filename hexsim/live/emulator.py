"""Serve an emulated vLLM engine: from the command line, or on a free port in a thread for tests.

The engine (`emulated_engine.py`) batches like vLLM v1, with the simulator's engine model, on
the wall clock; `emulator_app.py` puts vLLM's OpenAI-compatible HTTP surface in front of it.
`emulated_cluster.py` serves one per instance of a cluster.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from hexsim.live.emulator_app import Limits, create_app
from hexsim.live.server import app_in_thread, base_url, listen, server_config
from hexsim.names import find_named
from hexsim.profiles.latency import Profile
from hexsim.profiles.models import model_table


def model_limits(profile: Profile) -> Limits:
    """A model hexsim knows brings its context length and vocabulary; another one is limited by the
    profile's KV cache alone."""
    spec = find_named(model_table().values(), profile.model)
    return Limits(spec.max_context, spec.vocab_size) if spec else Limits(profile.kv_capacity_tokens_usable)


def serve(
    profile: Profile,
    model_name: str,
    host: str,
    port: int,
    scheduling: str = "fcfs",
    time_scale: float = 1.0,
    limits: Limits | None = None,
    stream_interval: int = 1,
    prefix_caching: bool = True,
) -> None:
    """Serve an emulated engine until interrupted (Ctrl-C or SIGTERM: streams still open are cut
    after `server.SHUTDOWN_TIMEOUT_S`)."""
    app = create_app(profile, model_name, scheduling, time_scale, limits, stream_interval, prefix_caching)
    sock = listen(host, port)
    logging.getLogger("uvicorn.error").info(
        "Emulating %s at %s (Press CTRL+C to quit)", model_name, base_url(host, port)
    )
    uvicorn.Server(server_config(app)).run(sockets=[sock])


@contextmanager
def emulator_in_thread(
    profile: Profile,
    model_name: str,
    host: str = "127.0.0.1",
    scheduling: str = "fcfs",
    time_scale: float = 1.0,
    limits: Limits | None = None,
    stream_interval: int = 1,
    prefix_caching: bool = True,
) -> Iterator[str]:
    """Serve an emulated engine on a free port in a background thread; yields its base URL."""
    app = create_app(profile, model_name, scheduling, time_scale, limits, stream_interval, prefix_caching)
    with app_in_thread(app, host) as url:
        yield url
