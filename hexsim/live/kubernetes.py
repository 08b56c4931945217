"""Kubernetes manifests for a cluster: a vLLM Deployment and Service per instance, and the
gateway's Deployment, Service and ConfigMap.

Every instance gets a Deployment of one replica and a Service of its own, an entry with count 2
too: the gateway sends each call to one engine of its choosing, which a Service spreading calls
over replicas would hide. An engine's pod asks for tp GPUs (`nvidia.com/gpu`) on a node whose
`nvidia.com/gpu.product` label (set by NVIDIA's GPU feature discovery) names the instance's GPU,
runs `vllm serve` with the arguments `hexsim launch` gives it on one machine, and is ready once
vLLM answers /health. The gateway reads the cluster file, rewritten with the Services' in-cluster
urls, and its [scheduler] table from the ConfigMap.
"""

import json
import re

import yaml

from hexsim.cluster import ClusterSpec, InstanceSpec
from hexsim.errors import InputError
from hexsim.inputfile import read_text
from hexsim.live.launch_commands import check_vllm_args, vllm_arguments
from hexsim.profiles.gpus import gpu_table
from hexsim.scheduler.config import SchedulerConfig, format_scheduler_config

PORT = 8000  # vLLM's and the gateway's port in their containers
GATEWAY = "hexsim-gateway"
CONFIG_DIR = "/etc/hexsim"
HF_TOKEN_SECRET = "hf-token"  # optional: a Secret whose key `token` lets vLLM download gated models
# A Service's name is a DNS-1035 label; a namespace's a DNS-1123 label.
_SERVICE_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def service_url(name: str, namespace: str) -> str:
    return f"http://{name}.{namespace}.svc:{PORT}"


def manifests(
    cluster: ClusterSpec,
    source: str,
    config: SchedulerConfig,
    priority: bool,
    namespace: str,
    image: str,
    gateway_image: str,
    template: str | None = None,
) -> list[dict]:
    """The manifests, engines first; `template` is the gateway's workflow template file, if any."""
    if not _NAMESPACE.fullmatch(namespace):
        raise InputError("--namespace", f"{namespace!r} is not a Kubernetes namespace (lowercase letters, digits, '-')")
    for inst in cluster.instances:
        check_vllm_args(inst, source)
        if not _SERVICE_NAME.fullmatch(inst.name) or inst.name == GATEWAY:
            raise InputError(
                source,
                f"instance {inst.name!r}: its name names its Service, so it must be lowercase letters, digits "
                f"and '-', start with a letter, be at most 63 characters and not be {GATEWAY!r}: set 'name'",
            )
    docs = []
    for inst in cluster.instances:
        docs += _engine(inst, namespace, image, priority)
    files = {
        "cluster.toml": cluster_toml(cluster, [service_url(inst.name, namespace) for inst in cluster.instances]),
        "scheduler.toml": format_scheduler_config(config),
    }
    if template is not None:
        files["template.json"] = read_text(template)
    return docs + _gateway(namespace, gateway_image, files)


def to_yaml(docs: list[dict]) -> str:
    """The manifests as one YAML stream, text of several lines as literal blocks."""
    return yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False)


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: object) -> bool:
        return True  # labels repeated in full, not as &id001 anchors


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_Dumper.add_representer(str, _text)


def cluster_toml(cluster: ClusterSpec, urls: list[str]) -> str:
    """The cluster as a cluster file, one [[instances]] table per instance with its url."""
    lines = [f"model = {_string(cluster.model)}"]
    for inst, url in zip(cluster.instances, urls, strict=True):
        lines += ["", "[[instances]]", f"name = {_string(inst.name)}", f"gpu = {_string(inst.gpu)}"]
        lines += [f"tp = {inst.profile.tp}", f"model = {_string(inst.model)}", f"url = {_string(url)}"]
        lines += [] if inst.prefix_caching else ["prefix_caching = false"]
    return "\n".join(lines) + "\n"


def _string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a TOML basic string


def _metadata(name: str, namespace: str, labels: dict) -> dict:
    return {"name": name, "namespace": namespace, "labels": labels}


def _deployment(name: str, namespace: str, labels: dict, pod: dict) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(name, namespace, labels),
        "spec": {
            "replicas": 1,
            # A rolling update would run two at once: twice the GPUs, or two gateways blind to each other's calls.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def _service(name: str, namespace: str, labels: dict) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(name, namespace, labels),
        "spec": {"selector": labels, "ports": [{"name": "http", "port": PORT, "targetPort": PORT}]},
    }


def _ready_on_health() -> dict:
    return {"httpGet": {"path": "/health", "port": PORT}, "periodSeconds": 5}


def _engine(inst: InstanceSpec, namespace: str, image: str, priority: bool) -> list[dict]:
    labels = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": inst.name}
    labels["app.kubernetes.io/part-of"] = "hexsim"
    token = {"secretKeyRef": {"name": HF_TOKEN_SECRET, "key": "token", "optional": True}}
    container = {
        "name": "vllm",
        "image": image,
        "command": ["vllm", "serve"],
        "args": [*vllm_arguments(inst, priority), "--port", str(PORT), *inst.vllm_args],
        "ports": [{"name": "http", "containerPort": PORT}],
        "env": [{"name": "HF_TOKEN", "valueFrom": token}],
        "resources": {"limits": {"nvidia.com/gpu": inst.profile.tp}},
        "readinessProbe": _ready_on_health(),
        # tensor-parallel workers exchange tensors through shared memory
        "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}],
    }
    pod = {
        "nodeSelector": {"nvidia.com/gpu.product": gpu_table()[inst.gpu].product},
        "containers": [container],
        "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory"}}],
    }
    return [_deployment(inst.name, namespace, labels, pod), _service(inst.name, namespace, labels)]


def _gateway(namespace: str, image: str, files: dict[str, str]) -> list[dict]:
    labels = {"app.kubernetes.io/name": GATEWAY, "app.kubernetes.io/part-of": "hexsim"}
    args = ["serve", "--cluster", f"{CONFIG_DIR}/cluster.toml", "--config", f"{CONFIG_DIR}/scheduler.toml"]
    args += ["--template", f"{CONFIG_DIR}/template.json"] if "template.json" in files else []
    args += ["--host", "0.0.0.0", "--port", str(PORT)]
    container = {
        "name": "gateway",
        "image": image,
        "command": ["hexsim"],
        "args": args,
        "ports": [{"name": "http", "containerPort": PORT}],
        "readinessProbe": _ready_on_health(),
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
    }
    pod = {"containers": [container], "volumes": [{"name": "config", "configMap": {"name": GATEWAY}}]}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _metadata(GATEWAY, namespace, labels)}
    config_map["data"] = files
    return [config_map, _deployment(GATEWAY, namespace, labels, pod), _service(GATEWAY, namespace, labels)]
