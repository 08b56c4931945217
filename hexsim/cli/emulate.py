"""`hexsim emulate`: serve an engine emulator whose timing follows a profile, or one per instance of a cluster."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hexsim.cli.options import flags, positive_float, positive_int
from hexsim.defaults import SCHEDULING_POLICIES
from hexsim.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# What a cluster file gives each instance instead.
_ONE_ENGINE = ("profile", "model", "gpu", "tp", "served_model_name", "host", "port", "enable_prefix_caching")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "emulate",
        help="serve an OpenAI-compatible engine emulator whose timing follows a profile",
        description="Serve /v1/completions, /v1/chat/completions, /v1/models, /health and /metrics like a vLLM "
        "server whose iterations take the time a profile says (continuous batching, chunked prefill): a "
        "stand-in for real engines in tests and demos. Give a profile file, or a model and GPU to use hexsim's "
        "profile for them, or a cluster file to emulate each of its instances at its url.",
    )
    p.add_argument("--profile", metavar="FILE", help="profile TOML")
    p.add_argument("--model", help="model (with --gpu): use hexsim's profile for it")
    p.add_argument("--gpu", help="GPU name or alias (with --model)")
    p.add_argument("--tp", type=positive_int, help="tensor-parallel degree (with --model; default: smallest)")
    p.add_argument(
        "--cluster",
        metavar="FILE",
        help="cluster TOML: emulate every instance, with its profile, at its url (all in this process)",
    )
    p.add_argument("--served-model-name", help="model name clients must ask for (default: the profile's model)")
    p.add_argument("--host", help=f"address to listen on (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, help=f"port (default {DEFAULT_PORT})")
    p.add_argument(
        "--scheduling-policy",
        choices=SCHEDULING_POLICIES,
        default="fcfs",
        help="as vLLM's flag of that name: fcfs (default) admits waiting requests in arrival order, priority "
        "orders them by the request's 'priority', lower first, then by arrival",
    )
    p.add_argument(
        "--time-scale",
        type=positive_float,
        default=1.0,
        metavar="X",
        help="iterations take their profile time / X of wall time (default 1; for tests and demos)",
    )
    p.add_argument(
        "--stream-interval",
        type=positive_int,
        default=1,
        metavar="N",
        help="as vLLM's flag of that name: a stream sends its first token, then a chunk per N tokens, then its "
        "last (default 1; a request's 'stream_interval' may raise it)",
    )
    p.add_argument(
        "--enable-prefix-caching",
        action=argparse.BooleanOptionalAction,
        help="as vLLM's flag of that name: keep freed KV blocks and reuse them for prompts that start the "
        "same way (default on, as in vLLM; in a --cluster file, each instance's prefix_caching)",
    )
    p.set_defaults(run=run, flags=flags(p, scheduling="--scheduling-policy"))


def run(args: argparse.Namespace, console: Console, err: Console) -> None:
    """Serve until interrupted the profile file given, the one hexsim uses for --model on --gpu,
    or an emulator per instance of --cluster."""
    if args.cluster:
        given = [f"--{name.replace('_', '-')}" for name in _ONE_ENGINE if getattr(args, name) is not None]
        if given:
            raise InputError("--cluster", f"each instance has its own profile and url: drop {', '.join(given)}")
    try:
        from hexsim.live.emulator import model_limits, serve
    except ImportError as error:
        missing = f"{error.name} is missing"
        raise InputError("emulate", f"needs the live extra ({missing}): pip install 'hexsim[live]'") from None
    if args.cluster:
        _serve_cluster(args, console)
        return
    from hexsim.profiles.files import load_profile
    from hexsim.profiles.gpus import canonical_gpu
    from hexsim.profiles.resolve import resolve_profile

    port = DEFAULT_PORT if args.port is None else args.port
    if not 1 <= port <= 65535:
        raise InputError("--port", f"expected a port number between 1 and 65535, got {port}")
    if args.profile:
        profile = load_profile(args.profile)
    elif args.model and args.gpu:
        profile = resolve_profile(args.model, canonical_gpu(args.gpu, "--gpu"), args.tp, "--model")
    else:
        raise InputError("emulate", "give --profile FILE, or --model and --gpu, or --cluster FILE")
    serve(
        profile,
        args.served_model_name or profile.model,
        args.host or DEFAULT_HOST,
        port,
        scheduling=args.scheduling_policy,
        time_scale=args.time_scale,
        limits=model_limits(profile),
        stream_interval=args.stream_interval,
        prefix_caching=args.enable_prefix_caching is not False,
    )


def _serve_cluster(args: argparse.Namespace, console: Console) -> None:
    from hexsim.cluster import load_cluster
    from hexsim.live.emulated_cluster import serve_cluster

    cluster = load_cluster(args.cluster)
    names = max(len(instance.name) for instance in cluster.instances)
    gpus = max(len(instance.gpu) for instance in cluster.instances)

    def listening() -> None:
        count = len(cluster.instances)
        console.print(f"Emulating {count} instance{'s' * (count > 1)} (Ctrl-C to quit):", highlight=False)
        for instance in cluster.instances:
            line = f"  {instance.name:<{names}}  {instance.gpu:<{gpus}}  {instance.url}"
            console.print(line, markup=False, highlight=False, soft_wrap=True)

    serve_cluster(
        cluster,
        args.cluster,
        scheduling=args.scheduling_policy,
        time_scale=args.time_scale,
        stream_interval=args.stream_interval,
        listening=listening,
    )
