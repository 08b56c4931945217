"""`hexsim launch --emit kubernetes`: the manifests, field by field against the cluster file, the
tuned config and the engines' commands on one machine (`--dry-run`), and against Kubernetes'
own schemas where kubernetes-validate is installed."""

import contextlib
import io
import shlex

import pytest

from hexsim.cli import main
from hexsim.cluster import load_cluster
from hexsim.resources import default_trace
from hexsim.scheduler.config_file import load_scheduler_config
from tests.live.launch_helpers import ENGINES, heterogeneous_cluster

yaml = pytest.importorskip("yaml")

PORTS = [8101, 8102, 8103, 8104]
# The nvidia.com/gpu.product label NVIDIA's GPU feature discovery gives nodes with these boards.
PRODUCTS = {"A100-80GB": "NVIDIA-A100-SXM4-80GB", "L40S": "NVIDIA-L40S", "A6000": "NVIDIA-RTX-A6000"}


def run(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["launch", *args]) == 0
    return out.getvalue()


@pytest.fixture
def files(tmp_path):
    cluster = heterogeneous_cluster(tmp_path, PORTS)
    config = tmp_path / "tuned.toml"
    config.write_text('[scheduler]\npolicy = "hexgen"\nalpha = 0.3\nbeta = 5.0\n')
    return cluster, config


def emitted(cluster, config, *more: str) -> dict[tuple[str, str], dict]:
    text = run("--cluster", str(cluster), "--config", str(config), "--emit", "kubernetes", *more)
    docs = list(yaml.safe_load_all(text))
    found = {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}
    assert len(found) == len(docs)
    return found


def test_each_instance_is_a_deployment_and_a_service_running_its_vllm_command(files):
    cluster, config = files
    docs = emitted(cluster, config, "--namespace", "llm", "--image", "registry.example/vllm:0.33")
    dry = run("--cluster", str(cluster), "--config", str(config), "--dry-run").splitlines()
    spec = load_cluster(cluster)
    assert set(docs) == {(kind, n) for n in [*ENGINES, "hexsim-gateway"] for kind in ("Deployment", "Service")} | {
        ("ConfigMap", "hexsim-gateway")
    }
    for inst, line in zip(spec.instances, map(shlex.split, dry), strict=False):
        deployment, service = docs[("Deployment", inst.name)], docs[("Service", inst.name)]
        assert deployment["metadata"]["namespace"] == service["metadata"]["namespace"] == "llm"
        assert deployment["spec"]["replicas"] == 1
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        assert service["spec"]["selector"] == selector
        others = [docs[("Deployment", n)]["spec"]["template"]["metadata"]["labels"] for n in ENGINES if n != inst.name]
        assert not any(selector.items() <= labels.items() for labels in others)
        pod = deployment["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"nvidia.com/gpu.product": PRODUCTS[inst.gpu]}
        (container,) = pod["containers"]
        assert container["image"] == "registry.example/vllm:0.33"
        assert container["resources"]["limits"] == {"nvidia.com/gpu": inst.profile.tp}
        # The arguments of the same engine on one machine, listening on every address at port 8000.
        argv = line[3:]
        host = argv.index("--host")
        del argv[host : host + 2]
        argv[argv.index("--port") + 1] = "8000"
        assert container["command"] == ["vllm", "serve"] and container["args"] == argv
        port = int(argv[argv.index("--port") + 1])
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": port}
        assert service["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": port}]


def test_the_gateway_reads_the_cluster_with_in_cluster_urls_and_the_tuned_config(files, tmp_path):
    cluster, config = files
    docs = emitted(cluster, config, "--namespace", "llm", "--gateway-image", "hexsim:0.1")
    data = docs[("ConfigMap", "hexsim-gateway")]["data"]
    assert set(data) == {"cluster.toml", "scheduler.toml"}
    (tmp_path / "in-cluster.toml").write_text(data["cluster.toml"])
    (tmp_path / "scheduler.toml").write_text(data["scheduler.toml"])
    original, rewritten = load_cluster(cluster), load_cluster(tmp_path / "in-cluster.toml")
    assert rewritten.model == original.model
    for before, after in zip(original.instances, rewritten.instances, strict=True):
        service = docs[("Service", before.name)]
        port = service["spec"]["ports"][0]["port"]
        assert after.url == f"http://{service['metadata']['name']}.{service['metadata']['namespace']}.svc:{port}"
        assert (after.name, after.profile, after.prefix_caching) == (before.name, before.profile, before.prefix_caching)
    assert load_scheduler_config(tmp_path / "scheduler.toml") == load_scheduler_config(config)
    pod = docs[("Deployment", "hexsim-gateway")]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "hexsim:0.1"
    args = container["command"] + container["args"]
    assert args[:2] == ["hexsim", "serve"]
    (mount,) = container["volumeMounts"]
    assert pod["volumes"] == [{"name": mount["name"], "configMap": {"name": "hexsim-gateway"}}]
    assert args[args.index("--cluster") + 1] == f"{mount['mountPath']}/cluster.toml"
    assert args[args.index("--config") + 1] == f"{mount['mountPath']}/scheduler.toml"
    port = int(args[args.index("--port") + 1])
    assert args[args.index("--host") + 1] == "0.0.0.0"
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": port}
    service = docs[("Service", "hexsim-gateway")]
    assert service["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": port}]
    assert service["spec"]["selector"] == docs[("Deployment", "hexsim-gateway")]["spec"]["selector"]["matchLabels"]


def test_a_template_reaches_the_gateway_through_the_config_map(files, tmp_path):
    cluster, config = files
    template = tmp_path / "template.json"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["trace", "template", str(default_trace()), "--out", str(template)]) == 0
    docs = emitted(cluster, config, "--template", str(template))
    assert docs[("ConfigMap", "hexsim-gateway")]["data"]["template.json"] == template.read_text()
    container = docs[("Deployment", "hexsim-gateway")]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][container["args"].index("--template") + 1] == "/etc/hexsim/template.json"


def test_the_manifests_pass_kubernetes_strict_schemas(files):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    cluster, config = files
    for doc in emitted(cluster, config).values():
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
