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
"""

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hexsim.errors import InputError
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
        entry.check_keys({"gpu", "count", "tp", "model", "name", "url", "urls", "prefix_caching"})
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
        for j in range(count):
            instances.append(InstanceSpec(f"{base}-{j}" if count > 1 else base, profile, urls[j], caching))
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
