"""`hexsim replay` of a mixed trace: each query sent with its workflow's SLO, the report broken down by workflow."""

import csv
import json

import pytest

from hexsim.cli import main
from hexsim.live.emulator import emulator_in_thread
from hexsim.workload.model import Call, Query, Stage
from hexsim.workload.traces import save_trace
from tests.live.test_replay_command import MODEL, PROFILE, SCALE


def mixed() -> list[Query]:
    long = (Stage((Call("retrieve", 300, 5),)), Stage((Call("generate", 1500, 40), Call("generate", 1200, 30))))
    short = (Stage((Call("Selector", 400, 10),)),)
    return [
        Query("c0", long, workflow="chess"),
        Query("m0", short, workflow="macsql"),
        Query("c1", long, workflow="chess"),
        Query("m1", short, workflow="macsql"),
    ]


def test_a_mixed_replay_sends_each_query_its_workflows_slo_and_reports_each_workflow(tmp_path, capsys):
    save_trace(mixed(), tmp_path / "mixed.jsonl")
    shared = ["--trace", str(tmp_path / "mixed.jsonl"), "--rate", "1", "--seed", "2", "--slo-scale", "3", "--json"]
    with emulator_in_thread(PROFILE, MODEL, time_scale=SCALE) as url:
        replay = ["replay", "--target", url, "--time-scale", str(SCALE), "--out", str(tmp_path / "live")]
        assert main([*replay, *shared]) == 0
    report = json.loads(capsys.readouterr().out)
    assert main(["simulate", "--policy", "vllm", *shared]) == 0
    simulated = json.loads(capsys.readouterr().out)

    assert report["workflows"] == simulated["workflows"]
    bases = {w: v["base_slo_s"] for w, v in report["workflows"].items()}
    assert bases["macsql"] < bases["chess"]
    with open(tmp_path / "live" / "queries_live.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    sent = {row["query_id"]: float(row["slo"]) for row in rows}
    assert {row["query_id"]: row["workflow"] for row in rows} == {q.id: q.workflow for q in mixed()}
    # The SLO each query carried to the gateway: 3 x its own workflow's base SLO.
    assert sent == pytest.approx({q: 3 * bases["chess" if q[0] == "c" else "macsql"] for q in sent}, abs=1e-5)
    live = report["policies"]["live"]["workflows"]
    assert {w: (s["queries"], s["completed"]) for w, s in live.items()} == {"chess": (2, 2), "macsql": (2, 2)}
