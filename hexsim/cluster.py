"""Cluster configuration: which instances (model, GPU, TP) serve the workload's model.

model = "meta-llama/Llama-3.1-70B-Instruct"   # the model the workload's calls use

[[instances]]
gpu = "A100"          # name or alias from profiles/gpus.toml
count = 2             # optional, default 1
tp = 4                # optional: default the smallest degree with a profile
model = "..."         # optional: default the top-level model
name = "a100"         # optional: instance names get -0, -1, ... when count > 1
urls = ["http://10.0.0.5:8000", "http://10.0.0.6:8000"]   # optional: the instances' engines
                      # (live commands only); `url = "..."` when count is 1
prefix_caching = true # optional: vLLM's automatic prefix caching (default on, as in vLLM)
gpus = [[0, 1, 2, 3], [4, 5, 6, 7]]   # optional, for `hexsim launch` on one machine: the GPU ids
                      # (CUDA_VISIBLE_DEVICES) of each instance, tp of them; `gpus = [0, 1, 2, 3]`
                      # when count is 1; without it an instance takes the lowest ids no other claims
vllm_args = ["--enable-chunked-prefill"]   # optional: more arguments of `vllm serve` (launch only)
"""

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hexsim.errors import InputError
from hexsim.inputfile import shown
from hexsim.profiles.gpus import canonical_gpu
from hexsim.profiles.latency import Profile
from hexsim.profiles.resolve import canonical_model, resolve_profile
from hexsim.tomlfile import Table, read_toml


@dataclass(frozen=True)
class InstanceSpec:
    name: str
    profile: Profile
    url: str | None = None  # where its engine serves vLLM's HTTP API (live commands only)
    prefix_caching: bool = True  # vLLM's automatic prefix caching, on by default as in vLLM v1
    gpus: tuple[int, ...] | None = None  # GPU ids for `hexsim launch` (None: the launcher assigns them)
    vllm_args: tuple[str, ...] = ()  # more arguments of its `vllm serve` (`hexsim launch` only)

    @property
    def model(self) -> str:
        return self.profile.model

    @property
    def gpu(self) -> str:
        return self.profile.gpu


@dataclass(frozen=True)
class ClusterSpec:
    model: str
    instances: tuple[InstanceSpec, ...]

    @property
    def longest_call(self) -> int:
        """Prompt plus output tokens of the longest call an instance serving the model can hold."""
        return max(inst.profile.kv_capacity_tokens_usable for inst in self.instances if inst.model == self.model)


# Dispatch weighs every instance for every call and each one is an engine in the simulation, so a
# run's cost grows with the cluster: beyond this a what-if takes hours (hexsim's clusters are tens).
MAX_INSTANCES = 1024


def _positive(v) -> bool:
    return v > 0


def load_cluster(path: str | Path) -> ClusterSpec:
    doc = Table(read_toml(path), path)
    doc.check_keys({"model", "instances", "description"})
    model = canonical_model(doc.get("model", str))
    entries = doc.get("instances", list, rule="a list of [[instances]] tables")
    instances: list[InstanceSpec] = []
    for i, raw in enumerate(entries):
        entry = Table(raw, path, f"instances[{i}].")
        entry.check_keys({"gpu", "count", "tp", "model", "name", "url", "urls", "prefix_caching", "gpus", "vllm_args"})
        gpu = canonical_gpu(entry.get("gpu", str), f"{path}: key '{entry.key('gpu')}'")
        count = entry.get(
            "count",
            int,
            1,
            check=lambda v: 0 < v <= MAX_INSTANCES - len(instances),
            rule=f"a positive integer, with at most {MAX_INSTANCES} instances in the cluster",
        )
        tp = entry.get("tp", int, None, check=_positive, rule="a positive integer")
        served = entry.get("model", str, model)
        profile = resolve_profile(served, gpu, tp, f"{path}: instances[{i}]")
        base = entry.get("name", str, f"{gpu.lower()}")
        urls = _urls(entry, count)
        caching = entry.get("prefix_caching", bool, True)
        gpus = _gpus(entry, count, profile.tp)
        extra = tuple(entry.get("vllm_args", list, [], check=_arguments, rule=_ARGUMENTS))
        for j in range(count):
            name = f"{base}-{j}" if count > 1 else base
            instances.append(InstanceSpec(name, profile, urls[j], caching, gpus[j], extra))
    if not instances:
        raise InputError(str(path), "key 'instances': the cluster has no instance")
    named = Counter(inst.name for inst in instances)
    duplicate = next((n for n, k in named.items() if k > 1), None)
    if duplicate is not None:
        raise InputError(str(path), f"two instances are named {duplicate!r}: give them distinct 'name' keys")
    urls = Counter(inst.url for inst in instances if inst.url is not None)
    shared = next((u for u, k in urls.items() if k > 1), None)
    if shared is not None:
        raise InputError(str(path), f"two instances have the url {shared!r}: each instance is one engine")
    if not any(inst.model == model for inst in instances):
        served = ", ".join(sorted({inst.model for inst in instances}))
        raise InputError(str(path), f"key 'model': no instance serves {model!r} (instances serve {served})")
    return ClusterSpec(model=model, instances=tuple(instances))


def _urls(entry: Table, count: int) -> list[str | None]:
    """The entry's engine URLs, one per instance: `url` when count is 1, `urls` (a list) otherwise."""
    if "url" in entry.data and "urls" in entry.data:
        raise entry.fail("urls", "give 'url' or 'urls', not both")
    if "url" in entry.data:
        if count != 1:
            raise entry.fail("url", f"names one engine but count is {count}: give 'urls', a list of {count}")
        return [_url(entry, "url", entry.get("url", str))]
    if "urls" not in entry.data:
        return [None] * count
    urls = entry.get("urls", list, check=lambda v: len(v) == count, rule=f"a list of {count} URLs (one per instance)")
    return [_url(entry, "urls", u) for u in urls]


def _url(entry: Table, key: str, url: object) -> str:
    """An engine's base URL, `http(s)://host:port` with an optional path prefix, without a trailing slash."""
    rule = "an http:// or https:// URL with a host, such as 'http://10.0.0.5:8000'"
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
        valid = parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname)
        valid = valid and not parts.query and not parts.fragment and parts.port != 0
    except ValueError:  # a port that is not a number from 0 to 65535
        valid = False
    if not valid:
        raise entry.fail(key, f"must be {rule}, got {url!r}")
    return url.rstrip("/")


_ARGUMENTS = "a list of vLLM command-line arguments (strings) starting with an option, as ['--max-model-len', '8192']"


def _arguments(args: list) -> bool:
    return all(isinstance(a, str) and a for a in args) and (not args or args[0].startswith("-"))


def _gpus(entry: Table, count: int, tp: int) -> list[tuple[int, ...] | None]:
    """The GPU ids of each instance of the entry: `gpus` is a list of tp ids when count is 1, else a list of
    count such lists; no id twice in the entry."""
    if "gpus" not in entry.data:
        return [None] * count
    one = f"a list of {tp} distinct GPU ids (integers from 0), as many as tp"
    rule = one if count == 1 else f"a list of {count} lists (one per instance), each {one}"
    raw = entry.get("gpus", list, rule=rule)
    groups = [raw] if count == 1 else raw
    valid = len(groups) == count and all(
        isinstance(g, list) and len(g) == tp and all(type(i) is int and i >= 0 for i in g) for g in groups
    )
    if not valid:
        raise entry.fail("gpus", f"must be {rule}, got {shown(raw)}")
    ids = [i for g in groups for i in g]
    twice = next((i for i, k in Counter(ids).items() if k > 1), None)
    if twice is not None:
        raise entry.fail("gpus", f"names GPU {twice} twice, got {shown(raw)}: an instance needs GPUs of its own")
    return [tuple(g) for g in groups]
