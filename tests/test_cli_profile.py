"""`hexsim profile ...` end to end: outputs that must agree with the library, and one-line errors."""

import json
import sys
from pathlib import Path

import pytest

from hexsim.cli import main
from hexsim.profiles.resolve import resolve_profile


def run(capsys, *args):
    code = main(["profile", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_json_matches_the_standalone_closed_form(capsys):
    code, out, _ = run(
        capsys, "predict", "--model", "Llama-3.1-70B", "--gpu", "a100", "--input", "5963", "--output", "79", "--json"
    )
    assert code == 0
    report = json.loads(out)
    profile = resolve_profile("meta-llama/Llama-3.1-70B-Instruct", "A100-80GB", None, "test")
    assert report["latency_s"] == pytest.approx(profile.standalone_time(5963, 79), abs=1e-6)
    assert report["prefill_s"] == pytest.approx(profile.prefill_time(5963), abs=1e-6)
    assert report["tp"] == 4 and report["profile"] == "shipped"


def test_predict_batch_shares_the_engine(capsys):
    args = [
        "predict",
        "--model",
        "meta-llama/Llama-3.1-8B-Instruct",
        "--gpu",
        "H100",
        "--input",
        "500",
        "--output",
        "200",
        "--json",
    ]
    one = json.loads(run(capsys, *args)[1])["latency_s"]
    eight = json.loads(run(capsys, *args, "--batch", "8")[1])["latency_s"]
    assert one < eight < 8 * one


def test_show_prints_provenance_and_limits(capsys):
    code, out, _ = run(capsys, "show", "Llama-3.1-8B", "L4")
    assert code == 0 and "Roofline-derived" in out and "KV cache" in out and "2 x L4" in out


def test_validate_prints_a_table_per_data_set_and_writes_the_figure(capsys, tmp_path):
    data = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "measurements"
    if not data.is_dir():
        pytest.skip("the shared measurements are not beside this checkout")
    figure = tmp_path / "validation.png"
    code, out, _ = run(capsys, "validate", "--data", str(data), "--out", str(figure))
    assert code == 0
    assert "step latencies: mean absolute error" in out and "Splitwise: mean absolute error" in out
    assert out.count("rows set aside by the fit as failed runs") == 2  # TP 2 on A100 and on H100
    assert figure.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["show", "acme/x", "A100"], "no profile for 'acme/x'"),
        (
            ["predict", "--model", "Llama-3.1-70B", "--gpu", "V100", "--input", "5", "--output", "5"],
            "unknown GPU 'V100'",
        ),
        (["fit", "missing.csv", "--model", "llama2-70b", "--gpu", "A100", "--out", "p.toml"], "missing.csv: no such"),
        (["validate", "--data", "nowhere"], "nowhere/step_latency_llama31_70b.csv: no such"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, tmp_path, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *args)
    assert code == 2 and expected in err and err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_measure_without_the_live_extra_says_how_to_get_it(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "hexsim.profiles.measure", raising=False)
    monkeypatch.setitem(sys.modules, "httpx", None)  # as after a plain `pip install .`
    args = ["measure", "--endpoint", "http://127.0.0.1:9", "--model", "m", "--gpu", "A100", "--out", "m.csv"]
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert err == "hexsim: error: profile measure: needs the live extra (httpx): pip install 'hexsim[live]'\n"
    assert list(tmp_path.iterdir()) == []
