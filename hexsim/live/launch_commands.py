"""The commands `hexsim launch` runs: a `vllm serve` (or an engine emulator) per instance of a
cluster, and a `hexsim serve` gateway in front of them.

An engine's arguments follow its profile, so that it batches as the simulator assumed: its
tensor-parallel degree, its seat and token limits, the share of GPU memory its KV capacity was
computed at (vLLM 0.33's default is 0.92, the profiles' 0.9), its KV block size, vLLM's priority
scheduling where the policy orders the engines' queues, and prefix caching as the cluster file
says. The flag names are vLLM 0.33's (`vllm/engine/arg_utils.py`, `FrontendArgs`).
"""

import itertools
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hexsim.cluster import ClusterSpec, InstanceSpec
from hexsim.errors import InputError
from hexsim.profiles.memory import GPU_MEMORY_UTILIZATION
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.template import WorkflowTemplate

VLLM_SERVE = ("vllm", "serve")
GATEWAY = "gateway"
_LOG_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
HEXSIM = (sys.executable, "-m", "hexsim.cli")
# What launch derives from the profile, the url and the policy: an instance's vllm_args may not
# set them (vLLM takes the last of a repeated flag, which would undo the profile's limits).
DERIVED_FLAGS = frozenset(
    {
        "--tensor-parallel-size",
        "-tp",
        "--max-num-seqs",
        "--max-num-batched-tokens",
        "--gpu-memory-utilization",
        "--device-memory-utilization",
        "--block-size",
        "--scheduling-policy",
        "--enable-prefix-caching",
        "--no-enable-prefix-caching",
        "--host",
        "--port",
    }
)


@dataclass(frozen=True)
class Command:
    """A process to start: its argv, the variables it gets on top of the environment, and the
    base URL where it answers GET /health once it is ready."""

    name: str
    argv: tuple[str, ...]
    url: str
    env: tuple[tuple[str, str], ...] = ()

    def shell(self) -> str:
        """The command as one shell line: `VAR=value argv...`, quoted with shlex."""
        return " ".join([*(f"{k}={shlex.quote(v)}" for k, v in self.env), shlex.join(self.argv)])


def engine_priority(cluster: ClusterSpec, config: SchedulerConfig, template: WorkflowTemplate) -> bool:
    """Whether the gateway sends calls with vLLM's `priority`: its core says so, built as `hexsim serve` builds it."""
    instances = [(inst.name, inst.profile) for inst in cluster.instances]
    return SchedulerCore(get_policy(config.policy), instances, template, cluster.model, config).engine_priority


def vllm_arguments(instance: InstanceSpec, priority: bool) -> list[str]:
    """`vllm serve`'s model and the flags that follow from the instance's profile and the policy."""
    profile = instance.profile
    args = [instance.model, "--tensor-parallel-size", str(profile.tp)]
    args += ["--max-num-seqs", str(profile.max_num_seqs)]
    args += ["--max-num-batched-tokens", str(profile.max_num_batched_tokens)]
    args += ["--gpu-memory-utilization", str(GPU_MEMORY_UTILIZATION), "--block-size", str(profile.block_size)]
    if priority:
        args += ["--scheduling-policy", "priority"]
    if not instance.prefix_caching:
        args.append("--no-enable-prefix-caching")
    return args


def check_vllm_args(instance: InstanceSpec, source: str) -> None:
    """An instance's vllm_args must leave the derived flags alone (vLLM reads `--a_b` as `--a-b`)."""
    for arg in instance.vllm_args:
        flag = arg.split("=", 1)[0]
        if flag.startswith("--"):
            flag = "--" + flag[2:].replace("_", "-")
        if flag in DERIVED_FLAGS:
            raise InputError(
                source,
                f"instance {instance.name!r}: key 'vllm_args': {arg!r} is set by hexsim launch itself "
                "(from the profile, the url and the policy)",
            )


def engine_address(instance: InstanceSpec, source: str) -> tuple[str, int]:
    """The host and port an instance's engine listens on: its url's, which must be plain http with a port."""
    where = f"instance {instance.name!r}"
    if instance.url is None:
        raise InputError(source, f"{where} has no url: hexsim launch starts its engine at the url's host and port")
    parts = urlsplit(instance.url)
    if parts.scheme != "http" or parts.port is None or parts.path:
        raise InputError(
            source, f"{where}: url {instance.url!r}: hexsim launch needs http://HOST:PORT (an explicit port, no path)"
        )
    return parts.hostname, parts.port


def assign_gpus(cluster: ClusterSpec, source: str) -> list[tuple[int, ...]]:
    """Each instance's GPU ids on this machine: its `gpus`, else the lowest ids no instance names, in order."""
    owner: dict[int, str] = {}
    for inst in cluster.instances:
        for gpu in inst.gpus or ():
            if gpu in owner:
                raise InputError(
                    source,
                    f"instance {inst.name!r}: key 'gpus': GPU {gpu} is also instance {owner[gpu]!r}'s "
                    "(hexsim launch runs every engine on this machine)",
                )
            owner[gpu] = inst.name
    free = (gpu for gpu in itertools.count() if gpu not in owner)
    return [inst.gpus or tuple(itertools.islice(free, inst.profile.tp)) for inst in cluster.instances]


def engine_commands(
    cluster: ClusterSpec,
    source: str,
    priority: bool,
    engine: Sequence[str] = VLLM_SERVE,
    emulate_time_scale: float | None = None,
) -> list[Command]:
    """A `vllm serve` per instance (started with `engine` in place of `vllm serve`), or with
    `emulate_time_scale` an engine emulator with the instance's profile running that much faster."""
    for inst in cluster.instances:
        check_vllm_args(inst, source)
        if not _LOG_NAME.fullmatch(inst.name) or inst.name == GATEWAY:
            raise InputError(
                source,
                f"instance {inst.name!r}: its name names its log file, so it must be letters, digits, '.', '_' "
                f"and '-' and not {GATEWAY!r}: set 'name'",
            )
    addresses = [engine_address(inst, source) for inst in cluster.instances]
    commands = []
    for inst, (host, port), gpus in zip(cluster.instances, addresses, assign_gpus(cluster, source), strict=True):
        env = (("CUDA_VISIBLE_DEVICES", ",".join(map(str, gpus))),)
        if emulate_time_scale is None:
            argv = [*engine, *vllm_arguments(inst, priority), "--host", host, "--port", str(port), *inst.vllm_args]
        else:
            argv = [*HEXSIM, "emulate", "--model", inst.model, "--gpu", inst.gpu, "--tp", str(inst.profile.tp)]
            argv += ["--host", host, "--port", str(port), "--scheduling-policy", "priority" if priority else "fcfs"]
            argv += ["--time-scale", str(emulate_time_scale)]
            argv += [] if inst.prefix_caching else ["--no-enable-prefix-caching"]
        commands.append(Command(inst.name, tuple(argv), _base_url(host, port), env))
    return commands


def gateway_command(
    cluster_file: Path,
    host: str,
    port: int,
    config_file: str | None,
    template_file: str | None,
    time_scale: float | None,
) -> Command:
    """`hexsim serve` (in this Python) in front of the cluster file's engines."""
    argv = [*HEXSIM, "serve", "--cluster", str(cluster_file), "--host", host, "--port", str(port)]
    argv += ["--config", config_file] if config_file else []
    argv += ["--template", template_file] if template_file else []
    argv += ["--time-scale", str(time_scale)] if time_scale is not None else []
    return Command(GATEWAY, tuple(argv), _base_url(host, port))


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
