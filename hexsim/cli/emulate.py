"""`hexsim emulate`: serve an engine emulator whose timing follows a profile."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hexsim.cli.options import flags, positive_float, positive_int
from hexsim.defaults import SCHEDULING_POLICIES
from hexsim.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "emulate",
        help="serve an OpenAI-compatible engine emulator whose timing follows a profile",
        description="Serve /v1/completions, /v1/models and /health like a vLLM server whose iterations take "
        "the time a profile says (continuous batching, chunked prefill): a stand-in for real engines in tests "
        "and demos. Give a profile file, or a model and GPU to use hexsim's profile for them.",
    )
    p.add_argument("--profile", metavar="FILE", help="profile TOML")
    p.add_argument("--model", help="model (with --gpu): use hexsim's profile for it")
    p.add_argument("--gpu", help="GPU name or alias (with --model)")
    p.add_argument("--tp", type=positive_int, help="tensor-parallel degree (with --model; default: smallest)")
    p.add_argument("--served-model-name", help="model name clients must ask for (default: the profile's model)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
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
    p.set_defaults(run=run, flags=flags(p, scheduling="--scheduling-policy"))


def run(args: argparse.Namespace, console: Console, err: Console) -> None:
    """Serve until interrupted the profile file given, or the one hexsim uses for --model on --gpu.

    A model hexsim knows brings its context length and vocabulary; another one is limited by the
    profile's KV cache alone.
    """
    try:
        from hexsim.live.emulator import serve
        from hexsim.live.emulator_app import Limits
    except ImportError as error:
        missing = f"{error.name} is missing"
        raise InputError("emulate", f"needs the live extra ({missing}): pip install 'hexsim[live]'") from None
    from hexsim.names import find_named
    from hexsim.profiles.files import load_profile
    from hexsim.profiles.gpus import canonical_gpu
    from hexsim.profiles.models import model_table
    from hexsim.profiles.resolve import resolve_profile

    if not 1 <= args.port <= 65535:
        raise InputError("--port", f"expected a port number between 1 and 65535, got {args.port}")
    if args.profile:
        profile = load_profile(args.profile)
    elif args.model and args.gpu:
        profile = resolve_profile(args.model, canonical_gpu(args.gpu, "--gpu"), args.tp, "--model")
    else:
        raise InputError("emulate", "give --profile FILE, or --model and --gpu")
    spec = find_named(model_table().values(), profile.model)
    limits = Limits(spec.max_context, spec.vocab_size) if spec else Limits(profile.kv_capacity_tokens_usable)
    serve(
        profile,
        args.served_model_name or profile.model,
        args.host,
        args.port,
        scheduling=args.scheduling_policy,
        time_scale=args.time_scale,
        limits=limits,
    )
