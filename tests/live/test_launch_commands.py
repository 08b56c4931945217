"""`hexsim launch --dry-run`: every engine's command, argument by argument, as its profile, the
cluster file and the policy make it; the gateway's; and the emulator's in place of vLLM."""

import contextlib
import io
import shlex
import sys

import pytest

from hexsim.cli import build_parser, main
from hexsim.cluster import load_cluster
from hexsim.profiles.gpus import canonical_gpu, gpu_table
from hexsim.profiles.memory import kv_capacity_tokens
from hexsim.profiles.models import model_spec
from hexsim.profiles.resolve import resolve_profile
from tests.live.launch_helpers import ENGINES, LLAMA, heterogeneous_cluster

PORTS = [8101, 8102, 8103, 8104]
# The A100s name GPUs 4-7 and 0-3; the L40S and the A6000 (tp 8 each) get the lowest ids left, in order.
GPUS = {"a100-0": "4,5,6,7", "a100-1": "0,1,2,3", "l40s": "8,9,10,11,12,13,14,15", "a6000": "16,17,18,19,20,21,22,23"}


def dry_run(*args: str) -> list[list[str]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["launch", "--dry-run", *args]) == 0
    return [shlex.split(line) for line in out.getvalue().splitlines()]


def options(argv: list[str]) -> dict[str, str | bool]:
    """Flag -> value (True for a flag without one); no flag may come twice."""
    found: dict[str, str | bool] = {}
    for i, arg in enumerate(argv):
        if arg.startswith("--"):
            assert arg not in found, arg
            has_value = i + 1 < len(argv) and not argv[i + 1].startswith("--")
            found[arg] = argv[i + 1] if has_value else True
    return found


@pytest.fixture
def cluster(tmp_path):
    return heterogeneous_cluster(tmp_path, PORTS)


@pytest.mark.parametrize("policy, priority", [("hexgen", True), ("rr-pq", True), ("lor", False), ("vllm", False)])
def test_each_engine_runs_vllm_serve_as_its_profile_says(cluster, tmp_path, policy, priority):
    config = tmp_path / "tuned.toml"
    config.write_text(f'[scheduler]\npolicy = "{policy}"\nalpha = 0.3\n')
    lines = dry_run("--cluster", str(cluster), "--config", str(config))
    spec = load_cluster(cluster)
    assert len(lines) == len(spec.instances) + 1
    for line, inst, port in zip(lines, spec.instances, PORTS, strict=False):
        env, argv = line[0], line[1:]
        assert env == f"CUDA_VISIBLE_DEVICES={GPUS[inst.name]}"
        assert argv[:3] == ["vllm", "serve", LLAMA]
        opts = options(argv[3:])
        profile = inst.profile
        assert int(opts["--tensor-parallel-size"]) == profile.tp == len(GPUS[inst.name].split(","))
        assert int(opts["--max-num-seqs"]) == profile.max_num_seqs
        assert int(opts["--max-num-batched-tokens"]) == profile.max_num_batched_tokens
        assert int(opts["--block-size"]) == profile.block_size
        # The memory share at which the profile's KV capacity was computed.
        share = float(opts["--gpu-memory-utilization"])
        gpu = gpu_table()[inst.gpu]
        assert kv_capacity_tokens(model_spec(LLAMA, "model"), gpu, profile.tp, share) == profile.kv_capacity_tokens
        assert opts.get("--scheduling-policy") == ("priority" if priority else None)
        assert opts.get("--no-enable-prefix-caching") is (None if inst.prefix_caching else True)
        assert "--enable-prefix-caching" not in opts
        assert (opts["--host"], int(opts["--port"])) == ("127.0.0.1", port)
        assert argv[len(argv) - len(inst.vllm_args) :] == list(inst.vllm_args)
        derived = {"--tensor-parallel-size", "--max-num-seqs", "--max-num-batched-tokens", "--block-size"}
        derived |= {"--gpu-memory-utilization", "--scheduling-policy", "--no-enable-prefix-caching", "--host", "--port"}
        assert set(opts) - derived == {a for a in inst.vllm_args if a.startswith("--")}
    assert [inst.name for inst in spec.instances] == ENGINES
    assert spec.instances[2].vllm_args == ("--enable-chunked-prefill", "--max-model-len", "32768")
    assert not spec.instances[2].prefix_caching


def test_the_gateway_is_hexsim_serve_with_the_cluster_and_config(cluster, tmp_path):
    config = tmp_path / "tuned.toml"
    config.write_text('[scheduler]\npolicy = "hexgen"\n')
    gateway = dry_run("--cluster", str(cluster), "--config", str(config), "--host", "0.0.0.0", "--port", "9000")[-1]
    assert gateway[:4] == [sys.executable, "-m", "hexsim.cli", "serve"]
    assert options(gateway[4:]) == {
        "--cluster": str(cluster),
        "--config": str(config),
        "--host": "0.0.0.0",
        "--port": "9000",
    }


def test_an_engine_command_takes_the_place_of_vllm_serve(cluster):
    lines = dry_run("--cluster", str(cluster), "--engine-command", "'/opt/vllm env/bin/vllm' serve")
    assert all(line[1:4] == ["/opt/vllm env/bin/vllm", "serve", LLAMA] for line in lines[:-1])


def test_emulated_engines_have_each_instance_s_profile(cluster):
    lines = dry_run("--cluster", str(cluster), "--emulate", "--time-scale", "20")
    spec = load_cluster(cluster)
    for line, inst, port in zip(lines, spec.instances, PORTS, strict=False):
        assert line[1:5] == [sys.executable, "-m", "hexsim.cli", "emulate"]
        args = build_parser().parse_args(line[4:])
        assert resolve_profile(args.model, canonical_gpu(args.gpu, "--gpu"), args.tp, "--model") == inst.profile
        assert (args.host, args.port, args.time_scale) == ("127.0.0.1", port, 20.0)
        assert args.scheduling_policy == "priority"
        assert args.enable_prefix_caching is (None if inst.prefix_caching else False)
    assert options(lines[-1][4:])["--time-scale"] == "20.0"
