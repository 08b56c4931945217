"""`hexsim simulate` end to end: byte-identical JSON for a seed, CSV and timeline outputs."""

import csv
import json
from collections import defaultdict

import pytest

from hexsim.cli import main
from hexsim.resources import default_trace
from hexsim.scheduler.registry import POLICIES
from hexsim.workload.traces import load_trace, save_trace


@pytest.fixture(scope="module")
def small_trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("trace") / "small.jsonl"
    save_trace(load_trace(default_trace())[:40], path)
    return str(path)


def simulate_json(capsys, *args):
    assert main(["simulate", "--json", *args]) == 0
    return capsys.readouterr().out


def test_json_is_byte_identical_for_a_seed_and_differs_across_seeds(capsys, small_trace):
    args = ["--trace", small_trace, "--rate", "0.1", "--arrivals", "gamma"]
    first = simulate_json(capsys, *args, "--seed", "4")
    assert simulate_json(capsys, *args, "--seed", "4") == first
    assert simulate_json(capsys, *args, "--seed", "5") != first
    report = json.loads(first)
    assert set(report["policies"]) == set(POLICIES)
    for summary in report["policies"].values():
        assert summary["queries"] == summary["completed"] == 40
        curve = [summary["attainment"][k] for k in sorted(summary["attainment"], key=float)]
        assert curve == sorted(curve), "attainment must not fall as the SLO loosens"
        assert summary["deadline_p95_s"] <= summary["deadline_p99_s"]
        assert summary["deadline_p95_scale"] == pytest.approx(
            summary["deadline_p95_s"] / report["base_slo_s"], abs=1e-5
        )


def test_out_and_timeline_agree_with_the_report(capsys, small_trace, tmp_path):
    out, timeline = tmp_path / "out", tmp_path / "timeline.json"
    report = json.loads(
        simulate_json(capsys, "--trace", small_trace, "--policy", "lor", "--out", str(out), "--timeline", str(timeline))
    )
    summary = report["policies"]["lor"]
    with (out / "queries_lor.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 40
    latencies = sorted(float(r["finished"]) - float(r["arrival"]) for r in rows)
    assert latencies[37] == pytest.approx(summary["deadline_p95_s"], abs=1e-5)  # 38th of 40 = ceil(0.95 * 40)
    with (out / "calls_lor.csv").open() as handle:
        calls = list(csv.DictReader(handle))
    assert len(calls) == summary["calls"] == sum(q.n_calls for q in load_trace(small_trace))
    decisions = [json.loads(line) for line in (out / "decisions_lor.jsonl").read_text().splitlines()]
    finished = {(r["query"], r["stage"], r["index"]) for r in decisions if r.get("event") == "call_finished"}
    assert finished == {(c["query_id"], int(c["stage"]), int(c["index"])) for c in calls}
    assert sum(r.get("decision") == "admit" for r in decisions) == len(calls)

    events = json.loads(timeline.read_text())["traceEvents"]
    busy = defaultdict(float)
    for event in events:
        if event["ph"] == "X":
            busy[event["tid"]] += event["dur"] / 1e6
    names = [e["args"]["name"] for e in events if e["name"] == "thread_name"]
    for tid, name in enumerate(names):
        assert busy[tid] / summary["makespan_s"] == pytest.approx(summary["utilisation"][name], abs=1e-4)


def test_table_output_names_the_base_slo(capsys, small_trace):
    assert main(["simulate", "--trace", small_trace, "--policy", "vllm"]) == 0
    out = capsys.readouterr().out
    assert "Base SLO" in out and "vllm" in out


def test_out_says_where_the_files_went(capsys, small_trace, tmp_path):
    out = tmp_path / "runs"
    assert main(["simulate", "--trace", small_trace, "--policy", "vllm", "--policy", "lor", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    wrote = [line for line in printed if line.startswith("wrote ")]
    assert wrote == [
        f"wrote {out}/: queries_POLICY.csv, calls_POLICY.csv and decisions_POLICY.jsonl for vllm, lor",
    ]
    expected = {f"{kind}_{p}.{ext}" for p in ("vllm", "lor") for kind, ext in (("queries", "csv"), ("calls", "csv"))}
    assert {p.name for p in out.iterdir()} == expected | {"decisions_vllm.jsonl", "decisions_lor.jsonl"}


def test_with_json_the_note_goes_to_stderr_and_stdout_stays_json(capsys, small_trace, tmp_path):
    timeline = tmp_path / "batches.json"
    args = ["simulate", "--trace", small_trace, "--policy", "lor", "--json", "--timeline", str(timeline)]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert set(json.loads(out)["policies"]) == {"lor"}
    assert f"wrote {timeline}: " in err and timeline.is_file()


def test_a_run_that_fails_leaves_no_out_folder(monkeypatch, capsys, small_trace, tmp_path):
    from hexsim.errors import InputError
    from hexsim.sim import simulate as simulate_module

    runs = []
    original = simulate_module.simulate

    def failing(*args, **kwargs):
        runs.append(args[2].name)
        if len(runs) == 2:
            raise InputError("simulate", "failed on purpose")
        return original(*args, **kwargs)

    monkeypatch.setattr(simulate_module, "simulate", failing)
    out = tmp_path / "results" / "run1"
    assert main(["simulate", "--trace", small_trace, "--policy", "vllm", "--policy", "lor", "--out", str(out)]) == 2
    assert runs == ["vllm", "lor"] and "failed on purpose" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("rate", "warned"), [("0.1", []), ("0.6", ["vllm", "hexgen"])])
def test_an_overloaded_run_warns_once_per_policy(capsys, rate, warned):
    assert main(["simulate", "--rate", rate, "--policy", "vllm", "--policy", "hexgen", "--json"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"hexsim: warning: {policy}: the cluster cannot keep up with {rate} q/s; its backlog grows, so attainment "
        "reflects the trace's length more than the policy"
        for policy in warned
    ]
