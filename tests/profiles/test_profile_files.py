"""Shipped profile files: loading, the standalone-latency closed form, fit to measurements, base SLO."""

import csv
import math
import re
from pathlib import Path

import pytest

from hexsim.cluster import load_cluster
from hexsim.errors import InputError
from hexsim.metrics.base_slo import base_slo
from hexsim.profiles.files import load_profile
from hexsim.resources import default_cluster

REPO = Path(__file__).resolve().parents[2]
PROFILE_DIR = REPO / "profiles" / "instances"
PROFILE_FILES = sorted(PROFILE_DIR.glob("*.toml"))
MEASURED = REPO.parent / "shared" / "data" / "measurements" / "step_latency_llama31_70b.csv"
LLAMA = "meta-llama/Llama-3.1-70B-Instruct"
CSV_GPU = {"A100": "A100-80GB", "A6000": "A6000", "L40": "L40S"}

# DESIGN.md, Metrics: the standard CHESS workflow (CSV step name -> calls in sequence).
STANDARD_WORKFLOW_CALLS = {
    "information_retriever": 4,
    "extract_keywords": 1,
    "generate_candidate": 1,
    "revise": 4,
    "unit_tester": 3,
    "generate_unit_test": 1,
    "evaluate": 1,
}
PAPER_CLUSTER_CSV_GPUS = ("A100", "A100", "A6000", "L40")


def measured_rows() -> list[dict]:
    if not MEASURED.is_file():
        pytest.skip(f"shared measurements {MEASURED} not available")
    with MEASURED.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def llama_profiles():
    profiles = [load_profile(p) for p in PROFILE_FILES]
    return [p for p in profiles if p.model == LLAMA]


def test_profiles_are_shipped():
    assert len(PROFILE_FILES) >= 3
    assert {p.gpu for p in llama_profiles()} >= {"A100-80GB", "A6000", "L40S"}


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.name)
def test_shipped_profile_loads(path):
    profile = load_profile(path)
    assert profile.tp > 0
    assert profile.kv_capacity_tokens > 0 and profile.max_num_seqs > 0 and profile.max_num_batched_tokens > 0
    c = profile.coefficients
    assert c.base > 0
    assert min(c.prefill_token, c.prefill_token_sq, c.decode_seq, c.context_token) >= 0
    assert profile.kv_capacity_blocks == profile.kv_capacity_tokens // profile.block_size


def hand_standalone(profile, p: int, o: int) -> float:
    c = profile.coefficients
    b = profile.max_num_batched_tokens
    prefill = math.ceil(p / b) * c.base + c.prefill_token * p + c.prefill_token_sq * p * p
    decode = (o - 1) * (c.base + c.decode_seq) + c.context_token * ((o - 1) * p + (o - 1) * o / 2)
    return prefill + decode


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.name)
def test_standalone_time_closed_form(path):
    profile = load_profile(path)
    b = profile.max_num_batched_tokens
    cases = [(308, 5), (100, 1), (b - 1, 2), (b, 40), (b + 1, 40), (3 * b - 7, 678), (11748, 678), (5963, 79)]
    assert any(p > b for p, _ in cases) and any(p < b for p, _ in cases)
    for p, o in cases:
        assert profile.standalone_time(p, o) == pytest.approx(hand_standalone(profile, p, o), rel=1e-12), (p, o)
    # One extra chunk costs exactly one more `base` (plus the linear and quadratic terms).
    c = profile.coefficients
    jump = profile.standalone_time(b + 1, 1) - profile.standalone_time(b, 1)
    assert jump == pytest.approx(c.base + c.prefill_token + c.prefill_token_sq * (2 * b + 1), rel=1e-9)


def test_profiles_match_measured_step_latencies():
    rows = measured_rows()
    by_gpu = {p.gpu: p for p in llama_profiles()}
    checked = 0
    for row in rows:
        gpu = CSV_GPU[row["gpu"]]
        if gpu not in by_gpu:
            continue
        predicted = by_gpu[gpu].standalone_time(int(row["input_tokens"]), int(row["output_tokens"]))
        measured = float(row["latency_s"])
        assert predicted == pytest.approx(measured, rel=0.15), (row["gpu"], row["step"], predicted, measured)
        checked += 1
    assert checked == 21  # 7 steps x 3 GPU types


def measured_base_slo(rows: list[dict]) -> float:
    latency = {(r["gpu"], r["step"]): float(r["latency_s"]) for r in rows}
    per_gpu = {
        gpu: sum(n * latency[(gpu, step)] for step, n in STANDARD_WORKFLOW_CALLS.items())
        for gpu in set(PAPER_CLUSTER_CSV_GPUS)
    }
    return sum(per_gpu[g] for g in PAPER_CLUSTER_CSV_GPUS) / len(PAPER_CLUSTER_CSV_GPUS)


def test_base_slo_from_measurements_and_profiles():
    measured = measured_base_slo(measured_rows())
    assert measured == pytest.approx(55.0, abs=0.5)
    cluster = load_cluster(default_cluster())
    modelled = base_slo(inst.profile for inst in cluster.instances)
    assert modelled == pytest.approx(measured, rel=0.10)


# ---------------------------------------------------------------- bad profile files


def a100_text() -> str:
    path = next(p for p in PROFILE_FILES if "a100" in p.name.lower() and "llama" in p.name.lower())
    return path.read_text(encoding="utf-8")


def set_key(text: str, key: str, line: str | None) -> str:
    """Replace (or, with None, delete) the line assigning `key`."""
    pattern = re.compile(rf"^{re.escape(key)}\s*=.*$\n?", re.MULTILINE)
    assert len(pattern.findall(text)) == 1, key
    return pattern.sub("" if line is None else line + "\n", text)


def profile_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as excinfo:
        load_profile(path)
    message = str(excinfo.value)
    assert str(path) in message
    return message


def test_profile_missing_key(tmp_path):
    message = profile_error(tmp_path, set_key(a100_text(), "base", None))
    assert "iteration.base" in message and "missing" in message


def test_profile_unknown_iteration_key(tmp_path):
    text = a100_text().replace("[iteration]", "[iteration]\ndecode_token = 0.001", 1)
    message = profile_error(tmp_path, text)
    assert "iteration.decode_token" in message and "unknown key" in message


def test_profile_unknown_top_level_key(tmp_path):
    message = profile_error(tmp_path, 'quantisation = "fp8"\n' + a100_text())
    assert "'quantisation'" in message and "unknown key" in message


def test_profile_negative_coefficient(tmp_path):
    message = profile_error(tmp_path, set_key(a100_text(), "decode_seq", "decode_seq = -0.0001"))
    assert "iteration.decode_seq" in message and "-0.0001" in message


def test_profile_zero_max_num_seqs(tmp_path):
    message = profile_error(tmp_path, set_key(a100_text(), "max_num_seqs", "max_num_seqs = 0"))
    assert "limits.max_num_seqs" in message and "got 0" in message


def test_profile_unknown_gpu(tmp_path):
    message = profile_error(tmp_path, set_key(a100_text(), "gpu", 'gpu = "H900"'))
    assert "'gpu'" in message and "'H900'" in message
