"""Cluster TOML files: the bundled paper cluster, naming, GPU aliases and load-time validation."""

from pathlib import Path

import pytest

from hexsim.cluster import load_cluster
from hexsim.errors import InputError
from hexsim.resources import default_cluster

LLAMA = "meta-llama/Llama-3.1-70B-Instruct"


def write(tmp_path: Path, text: str, name: str = "cluster.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def instance(gpu: str, **extra) -> str:
    lines = ["[[instances]]", f'gpu = "{gpu}"']
    for key, value in extra.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {str(value).lower()}")
        else:
            lines.append(f"{key} = {value!r}" if not isinstance(value, str) else f'{key} = "{value}"')
    return "\n".join(lines) + "\n"


def cluster_text(*instances: str, model: str = LLAMA, header: str = "") -> str:
    return f'model = "{model}"\n{header}\n' + "\n".join(instances)


def load_error(path: Path) -> str:
    with pytest.raises(InputError) as excinfo:
        load_cluster(path)
    text = str(excinfo.value)
    assert str(path) in text
    return text


def test_bundled_paper_cluster():
    cluster = load_cluster(default_cluster())
    assert cluster.model == LLAMA
    assert [i.name for i in cluster.instances] == ["a100-0", "a100-1", "a6000", "l40s"]
    assert [i.gpu for i in cluster.instances] == ["A100-80GB", "A100-80GB", "A6000", "L40S"]
    assert all(i.model == LLAMA for i in cluster.instances)
    # The two A100 replicas share one profile; the three GPU types have different speeds.
    a, b, c, d = (i.profile for i in cluster.instances)
    assert a == b
    assert a.standalone_time(5963, 79) < c.standalone_time(5963, 79)
    assert a.standalone_time(5963, 79) < d.standalone_time(5963, 79)


def test_engine_urls_one_per_instance(tmp_path):
    text = cluster_text(
        instance("A100", count=2, urls=["http://10.0.0.5:8000/", "https://gpu-b.example:443/vllm"]),
        instance("L40S", url="http://[::1]:9000"),
        instance("A6000"),
    )
    cluster = load_cluster(write(tmp_path, text))
    assert [i.url for i in cluster.instances] == [
        "http://10.0.0.5:8000",
        "https://gpu-b.example:443/vllm",
        "http://[::1]:9000",
        None,
    ]


def test_prefix_caching_is_on_unless_an_instance_turns_it_off(tmp_path):
    text = cluster_text(instance("A100", count=2), instance("L40S", prefix_caching=False))
    cluster = load_cluster(write(tmp_path, text))
    assert [i.prefix_caching for i in cluster.instances] == [True, True, False]


def test_gpus_and_vllm_args_for_launch(tmp_path):
    text = cluster_text(
        instance("A100", count=2, tp=4, gpus=[[4, 5, 6, 7], [0, 1, 2, 3]], vllm_args=["--enforce-eager"]),
        instance("L40S", tp=8, gpus=list(range(8, 16))),
        instance("A6000"),
    )
    cluster = load_cluster(write(tmp_path, text))
    assert [i.gpus for i in cluster.instances] == [(4, 5, 6, 7), (0, 1, 2, 3), tuple(range(8, 16)), None]
    assert [i.vllm_args for i in cluster.instances] == [("--enforce-eager",), ("--enforce-eager",), (), ()]


def test_bundled_cluster_names_local_engines():
    urls = [i.url for i in load_cluster(default_cluster()).instances]
    assert urls == [f"http://127.0.0.1:{port}" for port in (8001, 8002, 8003, 8004)]


def test_count_and_name(tmp_path):
    path = write(tmp_path, cluster_text(instance("A6000", count=3, name="slow"), instance("A100")))
    cluster = load_cluster(path)
    assert [i.name for i in cluster.instances] == ["slow-0", "slow-1", "slow-2", "a100-80gb"]
    assert [i.gpu for i in cluster.instances] == ["A6000"] * 3 + ["A100-80GB"]
    assert len({id(i.profile) for i in cluster.instances[:3]}) == 1


@pytest.mark.parametrize(
    "alias, canonical",
    [
        ("l40", "L40S"),
        ("L40", "L40S"),
        ("a100", "A100-80GB"),
        ("A100", "A100-80GB"),
        ("rtx-a6000", "A6000"),
        ("l40s", "L40S"),
        ("a100-80gb", "A100-80GB"),
    ],
)
def test_gpu_alias_resolution(tmp_path, alias, canonical):
    path = write(tmp_path, cluster_text(instance(alias, name="only")))
    (only,) = load_cluster(path).instances
    assert only.gpu == canonical
    assert only.profile.gpu == canonical


def test_unknown_gpu(tmp_path):
    path = write(tmp_path, cluster_text(instance("A100"), instance("H900", name="new")))
    text = load_error(path)
    assert "instances[1].gpu" in text and "'H900'" in text


def test_unknown_top_level_key(tmp_path):
    path = write(tmp_path, cluster_text(instance("A100"), header="gpus = 4"))
    text = load_error(path)
    assert "'gpus'" in text and "unknown key" in text


def test_unknown_instance_key(tmp_path):
    path = write(tmp_path, cluster_text(instance("A100"), instance("L40S", cnt=2)))
    text = load_error(path)
    assert "instances[1].cnt" in text and "unknown key" in text


@pytest.mark.parametrize("count, shown", [(0, "got 0"), (-2, "got -2"), ("2", "got '2'"), (1.5, "got 1.5")])
def test_bad_count(tmp_path, count, shown):
    path = write(tmp_path, cluster_text(instance("A100", count=count)))
    text = load_error(path)
    assert "instances[0].count" in text and shown in text


def test_top_level_model_not_served(tmp_path):
    # Every instance names its own model (which has profiles), none serves the top-level one.
    path = write(tmp_path, cluster_text(instance("A100", model=LLAMA), model="acme/Unknown-7B"))
    text = load_error(path)
    assert "'model'" in text and "'acme/Unknown-7B'" in text


def test_model_without_profile(tmp_path):
    path = write(tmp_path, cluster_text(instance("A100"), model="acme/Unknown-7B"))
    text = load_error(path)
    assert "instances[0]" in text and "acme/Unknown-7B" in text


def test_impossible_tp(tmp_path):
    path = write(tmp_path, cluster_text(instance("A100", tp=3)))
    text = load_error(path)
    assert "instances[0]" in text and "tp=3" in text


def test_no_instances(tmp_path):
    path = write(tmp_path, f'model = "{LLAMA}"\ninstances = []\n')
    text = load_error(path)
    assert "'instances'" in text


def test_missing_instances_key(tmp_path):
    path = write(tmp_path, f'model = "{LLAMA}"\n')
    text = load_error(path)
    assert "instances" in text


def test_duplicate_names(tmp_path):
    path = write(tmp_path, cluster_text(instance("A100", name="twin"), instance("L40S", name="twin")))
    text = load_error(path)
    assert "'twin'" in text


def test_duplicate_names_from_count(tmp_path):
    # count = 2 yields "fast-0", "fast-1"; an explicit "fast-1" then collides.
    path = write(tmp_path, cluster_text(instance("A100", name="fast", count=2), instance("L40S", name="fast-1")))
    text = load_error(path)
    assert "'fast-1'" in text


def test_malformed_toml(tmp_path):
    path = write(tmp_path, f'model = "{LLAMA}"\n[[instances]]\ngpu = "A100\ncount = 2\n')
    text = load_error(path)
    assert "TOML" in text and "line 3" in text


def test_missing_file(tmp_path):
    load_error(tmp_path / "nowhere.toml")
