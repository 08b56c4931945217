"""Measuring an engine over HTTP: the emulator's known coefficients come back out of the fit."""

import io
import socket

import pytest
from rich.console import Console

from hexsim.cli.profile.measure import run_measure
from hexsim.errors import InputError
from hexsim.live.emulator import emulator_in_thread
from hexsim.profiles.fit import fit_measurements
from hexsim.profiles.latency import IterationCoefficients, Profile
from hexsim.profiles.measure import measure_profile
from hexsim.profiles.measurements import read_measurements

MODEL = "emulated-model"
TRUE = IterationCoefficients(
    base=0.040, prefill_token=5e-5, prefill_token_sq=4e-9, decode_seq=0.002, context_token=2e-6
)
PROFILE = Profile(MODEL, "A100-80GB", 1, TRUE, kv_capacity_tokens=1_000_000, max_num_batched_tokens=32768)
# Every term matters in the sweep: 3072-token prompts spend a fifth of their prefill in the
# quadratic term; a decode iteration of 8 sequences spends 16 ms on decode_seq and, at 3000
# tokens of context, 49 ms on context_token; a 128-token prompt is mostly base. Batches of
# 8 x 3072 tokens fit the 32768-token budget, so every prefill row is one iteration. The
# 40 ms base leaves time to send a batch while the previous one computes even when the
# emulator thread and the client share a loaded CI machine (at 20 ms, CI once could not).
PROMPT_LENGTHS = (128, 1024, 3072)
BATCH_SIZES = (1, 4, 8)
OUTPUT_TOKENS = 24


@pytest.fixture(scope="module")
def url():
    with emulator_in_thread(PROFILE, MODEL) as base_url:
        yield base_url


@pytest.mark.slow
def test_the_fit_of_measured_iterations_recovers_the_true_coefficients(url):
    rows = measure_profile(url, MODEL, PROMPT_LENGTHS, BATCH_SIZES, OUTPUT_TOKENS, repeats=1)
    shapes = {(b, p) for b in BATCH_SIZES for p in PROMPT_LENGTHS}
    assert {(m.batch_size, m.prompt_tokens) for m in rows if m.phase == "prefill"} == shapes
    assert {(m.batch_size, m.prompt_tokens) for m in rows if m.phase == "decode"} == shapes
    # Contexts: the prompt plus the middle of the timed window (tokens 4..21 of 24).
    assert {m.context_tokens - m.prompt_tokens for m in rows if m.phase == "decode"} == {12.0}
    fitted = fit_measurements(rows).coefficients
    for name in ("base", "prefill_token", "prefill_token_sq", "decode_seq", "context_token"):
        assert getattr(fitted, name) == pytest.approx(getattr(TRUE, name), rel=0.05), name


def test_run_measure_writes_the_csv_and_a_summary(url, tmp_path):
    out = tmp_path / "measured.csv"
    console = Console(file=io.StringIO(), width=200)
    run_measure(url, MODEL, "a100", 1, out, [64], [1, 2], 8, 1, console, Console(file=io.StringIO()))
    rows = read_measurements(out)
    assert [(m.phase, m.batch_size) for m in rows] == [("prefill", 1), ("decode", 1), ("prefill", 2), ("decode", 2)]
    summary = console.file.getvalue()
    assert summary.count("\n") == 1 and "4 measurements" in summary and str(out) in summary


def test_an_unknown_model_is_reported_with_the_servers_message(url):
    with pytest.raises(InputError, match="does not exist") as caught:
        measure_profile(url, "other-model", [16], [1], 8, 1)
    assert caught.value.where == url


def test_a_closed_port_raises_input_error_naming_the_endpoint():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    with pytest.raises(InputError, match="cannot connect") as caught:
        measure_profile(endpoint, MODEL, [16], [1], 8, 1)
    assert caught.value.where == endpoint
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "flag"),
    [
        ({"endpoint": "localhost:8000"}, "--endpoint"),
        ({"model": " "}, "--model"),
        ({"gpu": "potato"}, "--gpu"),
        ({"tp": 0}, "--tp"),
        ({"prompt_lengths": []}, "--prompt-lengths"),
        ({"batch_sizes": [4, -1]}, "--batch-sizes"),
        ({"output_tokens": 3}, "--output-tokens"),
        ({"repeats": 0}, "--repeats"),
    ],
)
def test_run_measure_names_the_bad_flag(tmp_path, overrides, flag):
    arguments = {
        "endpoint": "http://127.0.0.1:9",
        "model": MODEL,
        "gpu": "a100",
        "tp": 1,
        "out": tmp_path / "m.csv",
        "prompt_lengths": [64],
        "batch_sizes": [1],
        "output_tokens": 8,
        "repeats": 1,
        "console": Console(file=io.StringIO()),
        "err": Console(file=io.StringIO()),
    }
    with pytest.raises(InputError) as caught:
        run_measure(**(arguments | overrides))
    assert caught.value.where == flag
    assert not (tmp_path / "m.csv").exists()
