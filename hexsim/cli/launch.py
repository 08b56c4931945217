"""`hexsim launch`: start a cluster's vLLM engines and the gateway on this machine, print the
commands, or write Kubernetes manifests for them."""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING

from hexsim.cli.options import add_cluster, add_config, add_template, flags, positive_float
from hexsim.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

DEFAULT_LOG_DIR = "launch-logs"
DEFAULT_HEALTH_TIMEOUT_S = 1800.0
DEFAULT_GRACE_S = 15.0
DEFAULT_NAMESPACE = "default"
DEFAULT_IMAGE = "vllm/vllm-openai:v0.33.0"
DEFAULT_GATEWAY_IMAGE = "hexsim:latest"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "launch",
        help="start a vLLM engine per cluster instance and the gateway in front of them",
        description="Start `vllm serve MODEL` for every instance of the cluster file on this machine, with "
        "the arguments its profile assumes (tensor parallelism, batch limits, memory share, block size, "
        "priority scheduling where the policy needs it, prefix caching) at its url's host and port, on the "
        "GPUs its `gpus` key names; wait until each answers /health; then start `hexsim serve` in front of "
        "them. Ctrl-C or SIGTERM stops the gateway, then the engines. --dry-run prints the commands instead; "
        "--emit kubernetes writes manifests for a Kubernetes cluster instead.",
    )
    add_cluster(p)
    add_config(p, "TOML file whose [scheduler] table sets the gateway's policy (default: hexgen)")
    add_template(p)
    p.add_argument("--host", default="127.0.0.1", help="address the gateway listens on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="the gateway's port (default 8000)")
    modes = p.add_mutually_exclusive_group()
    modes.add_argument(
        "--dry-run", action="store_true", help="print each command (environment and arguments) and start nothing"
    )
    modes.add_argument(
        "--emit",
        choices=["kubernetes"],
        metavar="FORMAT",
        help="print manifests instead of starting anything: kubernetes (a Deployment and Service per "
        "instance, and the gateway's Deployment, Service and ConfigMap)",
    )
    p.add_argument(
        "--engine-command",
        metavar="CMD",
        help="what to run in place of `vllm serve` (a shell-quoted prefix; the model and flags follow)",
    )
    p.add_argument(
        "--emulate",
        action="store_true",
        help="run hexsim's engine emulator with each instance's profile instead of vLLM (no GPU needed)",
    )
    p.add_argument(
        "--time-scale",
        type=positive_float,
        metavar="X",
        help="with --emulate: engines and the gateway's clock run X times faster (default 1)",
    )
    p.add_argument(
        "--log-dir",
        metavar="DIR",
        default=DEFAULT_LOG_DIR,
        help=f"folder for each process's log, NAME.log (default {DEFAULT_LOG_DIR})",
    )
    p.add_argument(
        "--health-timeout",
        type=positive_float,
        default=DEFAULT_HEALTH_TIMEOUT_S,
        metavar="S",
        help="seconds each process may take to answer /health, weights download included "
        f"(default {DEFAULT_HEALTH_TIMEOUT_S:g})",
    )
    p.add_argument(
        "--grace",
        type=positive_float,
        default=DEFAULT_GRACE_S,
        metavar="S",
        help=f"seconds between SIGTERM and SIGKILL when stopping (default {DEFAULT_GRACE_S:g})",
    )
    p.add_argument(
        "--namespace", metavar="NAME", help=f"with --emit: the Kubernetes namespace (default {DEFAULT_NAMESPACE})"
    )
    p.add_argument("--image", help=f"with --emit: the vLLM container image (default {DEFAULT_IMAGE})")
    p.add_argument(
        "--gateway-image",
        metavar="IMAGE",
        help=f"with --emit: an image with hexsim[live] installed (default {DEFAULT_GATEWAY_IMAGE})",
    )
    p.set_defaults(run=run, flags=flags(p))


def run(args: argparse.Namespace, console: Console, err: Console) -> None:
    """Check everything, then print the commands or manifests, or run until Ctrl-C or SIGTERM."""
    _check_combinations(args)
    from hexsim.cli import setup
    from hexsim.live import launch_commands as commands

    cluster_file = setup.cluster_file(args)
    cluster = setup.cluster(args)
    config = setup.scheduler_config(args)
    priority = commands.engine_priority(cluster, config, setup.template(args))
    if args.emit:
        _emit(args, console, cluster, str(cluster_file), config, priority)
        return
    if not 1 <= args.port <= 65535:
        raise InputError("--port", f"expected a port number between 1 and 65535, got {args.port}")
    engine = _engine(args.engine_command) if args.engine_command is not None else list(commands.VLLM_SERVE)
    time_scale = (args.time_scale or 1.0) if args.emulate else None
    engines = commands.engine_commands(cluster, str(cluster_file), priority, engine, time_scale)
    gateway = commands.gateway_command(cluster_file, args.host, args.port, args.config, args.template, time_scale)
    if args.dry_run:
        for command in [*engines, gateway]:
            console.print(command.shell(), markup=False, highlight=False, soft_wrap=True)
        return
    _run(args, err, engines, gateway)


def _engine(text: str) -> list[str]:
    try:
        engine = shlex.split(text)
    except ValueError as error:
        raise InputError("--engine-command", f"{text!r}: {error}") from None
    if not engine:
        raise InputError("--engine-command", "is empty: give the command that starts an engine")
    return engine


def _check_combinations(args: argparse.Namespace) -> None:
    if args.time_scale is not None and not args.emulate:
        raise InputError("--time-scale", "only with --emulate: real engines run at their own speed")
    if args.emulate and args.engine_command is not None:
        raise InputError("--engine-command", "runs in place of vLLM, and so does --emulate: give one of them")
    if not args.emit:
        for name in ("namespace", "image", "gateway_image"):
            if getattr(args, name) is not None:
                raise InputError(f"--{name.replace('_', '-')}", "only with --emit kubernetes")
    elif args.emulate or args.engine_command is not None:
        raise InputError("--emit", "the manifests run vLLM's image: drop --emulate and --engine-command")


def _run(args: argparse.Namespace, err: Console, engines, gateway) -> None:
    try:
        import uvicorn  # noqa: F401  (the gateway's server, which runs in a process of its own)

        from hexsim.live.launcher import check_ports_free, resolve_executable, run_cluster
    except ImportError as error:
        raise InputError(
            "launch", f"needs the live extra ({error.name} is missing): pip install 'hexsim[live]'"
        ) from None
    from dataclasses import replace

    from hexsim.cli.outputs import output_folder

    if not args.emulate:
        executable = resolve_executable(engines[0].argv[0])
        engines = [replace(e, argv=(executable, *e.argv[1:])) for e in engines]
    log_dir = output_folder("--log-dir", args.log_dir)
    check_ports_free([*engines, gateway])

    def say(line: str) -> None:
        err.print(line, markup=False, highlight=False, soft_wrap=True)

    run_cluster(engines, gateway, log_dir, args.health_timeout, args.grace, say)


def _emit(args: argparse.Namespace, console: Console, cluster, source: str, config, priority: bool) -> None:
    try:
        from hexsim.live.kubernetes import manifests, to_yaml
    except ImportError as error:
        missing = f"{error.name} is missing"
        raise InputError("--emit", f"needs the live extra ({missing}): pip install 'hexsim[live]'") from None
    docs = manifests(
        cluster,
        source,
        config,
        priority,
        namespace=args.namespace or DEFAULT_NAMESPACE,
        image=args.image or DEFAULT_IMAGE,
        gateway_image=args.gateway_image or DEFAULT_GATEWAY_IMAGE,
        template=args.template,
    )
    console.file.write(to_yaml(docs))
