"""`hexsim replay` end to end: the simulator's queries, arrivals and columns, output files written as the run goes."""

import csv
import json
import signal
import subprocess
import sys
import time

import pytest

from hexsim.cli import main
from hexsim.live.emulator import emulator_in_thread
from hexsim.live.replay_targets import instance_name
from hexsim.metrics.records import CallRecord, QueryRecord
from hexsim.profiles.latency import IterationCoefficients, Profile
from hexsim.workload.model import Call, Query, Stage
from hexsim.workload.traces import save_trace

MODEL = "replayed-model"
PROFILE = Profile(
    model=MODEL,
    gpu="A100-80GB",
    tp=1,
    coefficients=IterationCoefficients(
        base=0.050, prefill_token=1e-4, prefill_token_sq=0, decode_seq=0.005, context_token=1e-7
    ),
    kv_capacity_tokens=200_000,
    max_num_seqs=8,
    max_num_batched_tokens=2048,
)
SCALE = 200


def trace(n: int) -> list[Query]:
    """`n` queries of two stages: one call, then two in parallel."""
    stages = (Stage((Call("retrieve", 300, 5),)), Stage((Call("generate", 1500, 40), Call("generate", 1200, 30))))
    return [Query(f"q{i}", stages) for i in range(n)]


def rows(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def header(path) -> list[str]:
    with open(path, newline="") as handle:
        return next(csv.reader(handle))


@pytest.fixture(scope="module")
def url():
    with emulator_in_thread(PROFILE, MODEL, time_scale=SCALE) as base_url:
        yield base_url


def test_a_replay_has_the_simulators_queries_arrivals_and_columns(url, tmp_path, capsys):
    save_trace(trace(5), tmp_path / "five.jsonl")
    save_trace(trace(3), tmp_path / "three.jsonl")
    shared = ["--rate", "2", "--seed", "4", "--slo-scale", "3", "--json"]
    replay = ["replay", "--target", url, "--trace", str(tmp_path / "five.jsonl"), "--queries", "3"]
    assert main([*replay, *shared, "--time-scale", str(SCALE), "--out", str(tmp_path / "live")]) == 0
    report = json.loads(capsys.readouterr().out)
    simulate = ["simulate", "--trace", str(tmp_path / "three.jsonl"), "--policy", "vllm"]
    assert main([*simulate, *shared, "--out", str(tmp_path / "sim")]) == 0
    simulated = json.loads(capsys.readouterr().out)

    summary = report["policies"]["live"]
    assert (summary["queries"], summary["completed"], summary["calls"]) == (3, 3, 9)
    assert summary["preemptions"] is None and summary["utilisation"] == {} and summary["queue_wait"] == {}
    assert report["base_slo_s"] == simulated["base_slo_s"] and report["slo_scale"] == 3
    assert report["setup"]["targets"] == [url] and report["setup"]["model"] == MODEL
    for name, kind in (("queries", QueryRecord), ("calls", CallRecord)):
        assert header(tmp_path / "live" / f"{name}_live.csv") == header(tmp_path / "sim" / f"{name}_vllm.csv")
        assert header(tmp_path / "live" / f"{name}_live.csv") == list(kind._fields)
    # The first three queries of the five-query trace arrive as the three-query trace's do in simulate,
    # with its SLO: three base SLOs.
    live = {r["query_id"]: r for r in rows(tmp_path / "live" / "queries_live.csv")}
    sim = {r["query_id"]: r for r in rows(tmp_path / "sim" / "queries_vllm.csv")}
    assert {q: (r["arrival"], r["slo"]) for q, r in live.items()} == {
        q: (r["arrival"], r["slo"]) for q, r in sim.items()
    }
    assert all(r["finished"] and float(r["finished"]) > float(r["arrival"]) for r in live.values())
    calls = rows(tmp_path / "live" / "calls_live.csv")
    assert len(calls) == 9
    assert all(c["admitted"] == "" and c["preemptions"] == "" and c["instance"] == instance_name(url) for c in calls)


def test_several_targets_make_the_vllm_baseline_and_a_label_names_the_files(tmp_path, capsys):
    save_trace(trace(2), tmp_path / "two.jsonl")
    common = ["replay", "--trace", str(tmp_path / "two.jsonl"), "--time-scale", str(SCALE), "--json"]
    with (
        emulator_in_thread(PROFILE, MODEL, time_scale=SCALE) as first,
        emulator_in_thread(PROFILE, MODEL, time_scale=SCALE) as second,
    ):
        assert main([*common, "--target", first, "--target", second, "--out", str(tmp_path / "rr")]) == 0
        assert set(json.loads(capsys.readouterr().out)["policies"]) == {"vllm"}
        assert main([*common, "--target", first, "--label", "mine", "--out", str(tmp_path / "one")]) == 0
        assert set(json.loads(capsys.readouterr().out)["policies"]) == {"mine"}
    assert sorted(p.name for p in (tmp_path / "rr").iterdir()) == ["calls_vllm.csv", "queries_vllm.csv"]
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["calls_mine.csv", "queries_mine.csv"]
    instances = {c["instance"] for c in rows(tmp_path / "rr" / "calls_vllm.csv")}
    assert instances == {instance_name(first), instance_name(second)}


def test_a_model_no_target_serves_is_a_one_line_error_before_anything_is_written(url, tmp_path, capsys):
    save_trace(trace(1), tmp_path / "one.jsonl")
    out = tmp_path / "out"
    args = ["replay", "--target", url, "--trace", str(tmp_path / "one.jsonl"), "--model", "other", "--out", str(out)]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"hexsim: error: --model: 'other': {url} does not serve it (it serves {MODEL})\n"
    assert not out.exists()


def test_ctrl_c_keeps_the_rows_written_as_calls_and_queries_ended_and_exits_130(url, tmp_path):
    # 40 queries, 0.2 s of wall time apart: eight seconds of arrivals, stopped after a few have ended.
    save_trace(trace(40), tmp_path / "long.jsonl")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "hexsim.cli", "replay", "--target", url, "--trace", str(tmp_path / "long.jsonl")]
    command += ["--rate", "0.025", "--time-scale", str(SCALE), "--out", str(out)]
    replay = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not (out / "queries_live.csv").exists() or len(rows(out / "queries_live.csv")) < 3:
            assert replay.poll() is None and time.monotonic() < deadline, replay.stderr.read()
            time.sleep(0.05)
        # Read while the replay runs: every row is whole, and every query's calls came before it.
        running = rows(out / "queries_live.csv")
        calls = {(c["query_id"], c["stage"], c["index"]) for c in rows(out / "calls_live.csv")}
        for query in running:
            assert float(query["finished"]) > float(query["arrival"])
            assert {(query["query_id"], s, i) for s, i in [("0", "0"), ("1", "0"), ("1", "1")]} <= calls
        replay.send_signal(signal.SIGINT)
        stdout, stderr = replay.communicate(timeout=10)
    finally:
        if replay.poll() is None:
            replay.kill()
            replay.communicate()
    assert replay.returncode == 130, stderr
    assert stderr.splitlines()[-1] == "hexsim: interrupted" and "Traceback" not in stderr
    assert stdout == ""
    kept = rows(out / "queries_live.csv")
    assert kept[: len(running)] == running and len(kept) < 40
    assert all(len(row) == len(QueryRecord._fields) and None not in row.values() for row in kept)
    assert all(len(row) == len(CallRecord._fields) for row in rows(out / "calls_live.csv"))
