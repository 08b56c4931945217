"""`hexsim serve`: the scheduler in front of real (or emulated) vLLM engines."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hexsim.cli.options import (
    add_cluster,
    add_config,
    add_slo_scale,
    add_template,
    flags,
    non_negative_int,
    positive_float,
    positive_int,
)
from hexsim.defaults import DEFAULT_SLO_SCALE
from hexsim.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

API_KEY_VARIABLE = "HEXSIM_API_KEY"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve the scheduler as a gateway in front of vLLM engines",
        description="Serve vLLM's OpenAI-compatible API (/v1/completions, /v1/chat/completions, /v1/models) in "
        "front of the engines the cluster file names (each instance's url), scheduling every call with the "
        "policy of --config (default hexgen): the calls of a workflow carry X-Hexsim-Query, X-Hexsim-Step, "
        "X-Hexsim-Stage and X-Hexsim-SLO headers. Policies that order the engines' queues need engines "
        "started with --scheduling-policy priority. Also serves /health, /metrics and "
        "POST /v1/queries/ID/finish.",
    )
    add_cluster(p)
    add_config(p, "TOML file whose [scheduler] table sets the policy and its hyperparameters (default: hexgen)")
    add_template(p)
    add_slo_scale(p, DEFAULT_SLO_SCALE, "SLO of queries that send no X-Hexsim-SLO, as a multiple of the base SLO")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--time-scale",
        type=positive_float,
        default=1.0,
        metavar="X",
        help="run the scheduler's clock X times faster than the wall clock, for engines emulated X times "
        "faster (default 1)",
    )
    p.add_argument(
        "--scrape-interval",
        type=positive_float,
        default=0.25,
        metavar="S",
        help="seconds between two reads of each engine's /metrics (default 0.25)",
    )
    p.add_argument(
        "--stale-after",
        type=positive_float,
        default=2.0,
        metavar="S",
        help="seconds without fresh metrics after which an engine counts as saturated (default 2)",
    )
    p.add_argument(
        "--idle-timeout",
        type=positive_float,
        default=600.0,
        metavar="S",
        help="seconds after which a query with nothing in flight is closed (default 600)",
    )
    p.add_argument(
        "--read-timeout",
        type=positive_float,
        default=900.0,
        metavar="S",
        help="seconds an engine may stay silent in the middle of an answer (default 900)",
    )
    p.add_argument(
        "--max-queued",
        type=positive_int,
        default=1024,
        metavar="N",
        help="calls that may wait for an engine; more get 429 with Retry-After (default 1024)",
    )
    p.add_argument(
        "--place-timeout",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="seconds a call may wait for an engine before it gets 503 with Retry-After (default 60)",
    )
    p.add_argument(
        "--retries",
        type=non_negative_int,
        default=3,
        metavar="N",
        help="times a call whose engine failed before answering is placed again (default 3)",
    )
    p.add_argument(
        "--trip-after",
        type=positive_int,
        default=3,
        metavar="N",
        help="failures in a row (calls or metrics reads) that take an engine out until it answers (default 3)",
    )
    p.add_argument(
        "--drain-timeout",
        type=positive_float,
        default=30.0,
        metavar="S",
        help="on Ctrl-C or SIGTERM, seconds to let calls in flight finish before closing (default 30)",
    )
    p.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"require 'Authorization: Bearer KEY' on every endpoint but /health (default: ${API_KEY_VARIABLE})",
    )
    p.add_argument("--log", metavar="FILE", help="append every scheduler event and decision to FILE (JSON Lines)")
    p.set_defaults(run=run, flags=flags(p))


def run(args: argparse.Namespace, console: Console, err: Console) -> None:
    """Check everything, then serve until Ctrl-C or SIGTERM."""
    if not 1 <= args.port <= 65535:
        raise InputError("--port", f"expected a port number between 1 and 65535, got {args.port}")
    try:
        import uvicorn

        from hexsim.live.gateway import Gateway, GatewaySettings
        from hexsim.live.gateway_app import create_gateway_app
        from hexsim.live.server import base_url, listen, server_config
    except ImportError as error:
        raise InputError(
            "serve", f"needs the live extra ({error.name} is missing): pip install 'hexsim[live]'"
        ) from None
    import os
    from contextlib import ExitStack
    from dataclasses import replace

    from hexsim.cli import setup
    from hexsim.cli.outputs import output_file
    from hexsim.live.engines import Timeouts
    from hexsim.metrics.base_slo import base_slo
    from hexsim.scheduler.log import DecisionLog

    cluster_file = setup.cluster_file(args)
    cluster = setup.cluster(args)
    unreachable = [inst.name for inst in cluster.instances if inst.url is None]
    if unreachable:
        raise InputError(
            str(cluster_file), f"instance {unreachable[0]!r} has no url: the gateway needs each engine's address"
        )
    config = setup.scheduler_config(args)
    template = setup.template(args)
    log_path = output_file("--log", args.log) if args.log is not None else None
    slo = args.slo_scale * base_slo(inst.profile for inst in cluster.instances)
    settings = GatewaySettings(
        slo=slo,
        time_scale=args.time_scale,
        scrape_interval=args.scrape_interval,
        stale_after=max(args.stale_after, args.scrape_interval),
        idle_timeout=args.idle_timeout,
        timeouts=replace(Timeouts(), read=args.read_timeout),
        max_queued=args.max_queued,
        place_timeout=args.place_timeout,
        retries=args.retries,
        trip_after=args.trip_after,
    )
    api_key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_VARIABLE) or None
    if api_key is not None and (api_key == "" or not api_key.isprintable()):
        raise InputError("--api-key", "expected printable characters, got an empty or unprintable key")
    sock = listen(args.host, args.port)
    with ExitStack() as stack:
        stack.callback(sock.close)
        sink = stack.enter_context(open(log_path, "a", encoding="utf-8")) if log_path is not None else None
        log = DecisionLog(sink, [inst.name for inst in cluster.instances]) if sink is not None else None
        gateway = Gateway(cluster, config, template, settings, log)
        err.print(
            f"hexsim gateway at {base_url(args.host, args.port)} (Ctrl-C to quit)\n"
            f"policy {config.policy}, SLO {slo:.1f} s, API key {'required' if api_key else 'off'}, engines:",
            highlight=False,
            markup=False,
        )
        names = max(len(inst.name) for inst in cluster.instances)
        for inst in cluster.instances:
            err.print(f"  {inst.name:<{names}}  {inst.url}", soft_wrap=True, highlight=False, markup=False)
        app = create_gateway_app(gateway, api_key=api_key)
        uvicorn.Server(server_config(app, drain_timeout=args.drain_timeout)).run(sockets=[sock])
