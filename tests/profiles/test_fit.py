"""Fitting iteration coefficients: exact recovery, outliers, the Splitwise data, bad input."""

from pathlib import Path

import numpy as np
import pytest

from hexsim.errors import InputError
from hexsim.profiles.fit import fit_measurements, predict
from hexsim.profiles.latency import IterationCoefficients
from hexsim.profiles.measurements import Measurement, read_measurements, write_measurements
from hexsim.profiles.splitwise import read_splitwise

TRUE = IterationCoefficients(base=0.03, prefill_token=2e-4, prefill_token_sq=8e-9, decode_seq=1e-4, context_token=3e-7)
SPLITWISE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "measurements" / "splitwise_perf_model.csv"


def sweep() -> list[Measurement]:
    rows = [Measurement("prefill", b, p, 0.0, 0.0) for b in (1, 2, 8) for p in (128, 512, 2048, 8192)]
    rows += [Measurement("decode", b, 512, c, 0.0) for b in (1, 4, 16, 64) for c in (600, 2000, 8000)]
    times = predict(TRUE, rows)
    return [
        Measurement(m.phase, m.batch_size, m.prompt_tokens, m.context_tokens, float(t))
        for m, t in zip(rows, times, strict=True)
    ]


def test_exact_measurements_give_back_the_coefficients():
    result = fit_measurements(sweep())
    for name in ("base", "prefill_token", "prefill_token_sq", "decode_seq", "context_token"):
        assert getattr(result.coefficients, name) == pytest.approx(getattr(TRUE, name), rel=1e-4)
    assert result.mape < 1e-6 and result.outliers == ()


def test_a_broken_row_is_set_aside_and_reported():
    rows = sweep()
    broken = Measurement("prefill", 8, 8192, 0.0, rows[11].time_s / 12)  # 12x too fast: a failed run
    rows[11] = broken
    result = fit_measurements(rows)
    assert result.outliers == (11,)
    assert result.coefficients.prefill_token == pytest.approx(TRUE.prefill_token, rel=1e-3)
    assert result.relative_errors[11] == pytest.approx(11.0, rel=1e-2)


def test_a_merely_inaccurate_model_keeps_every_row():
    rows = [
        Measurement(
            m.phase, m.batch_size, m.prompt_tokens, m.context_tokens, m.time_s * (1.3 if m.batch_size == 8 else 1)
        )
        for m in sweep()
    ]
    assert fit_measurements(rows).outliers == ()


@pytest.mark.parametrize("hardware", ["a100-80gb", "h100-80gb"])
@pytest.mark.parametrize("tp", [2, 4, 8])
def test_splitwise_llama2_70b_in_sample_error_at_most_10_percent(hardware, tp):
    if not SPLITWISE.is_file():
        pytest.skip("the shared measurements are not beside this checkout")
    rows = read_splitwise(SPLITWISE)[("llama2-70b", hardware, tp)]
    result = fit_measurements(rows)
    assert result.mape <= 0.10
    # Only TP 2's batch-of-64 prompts are outliers: 32k tokens in 0.8 s, faster than 4k tokens.
    assert {(rows[i].batch_size, rows[i].phase) for i in result.outliers} <= {(64, "prefill")}
    assert len(result.outliers) <= 5


def test_measurement_csv_round_trip(tmp_path):
    write_measurements(sweep(), tmp_path / "m.csv")
    assert read_measurements(tmp_path / "m.csv") == sweep()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("phase,batch_size,prompt_tokens,time_s\n", "missing column 'context_tokens'"),
        ("phase,batch_size,prompt_tokens,context_tokens,time_s\nprefil,1,10,0,0.1\n", ":2: column 'phase'"),
        (
            "phase,batch_size,prompt_tokens,context_tokens,time_s\nprefill,1,10,0,-0.1\n",
            ":2: column 'time_s' must be from 1e-06 to 3600 s (no engine iteration takes under a microsecond or over "
            "an hour), got '-0.1'",
        ),
        (
            "phase,batch_size,prompt_tokens,context_tokens,time_s\ndecode,x,10,5,0.1\n",
            ":2: column 'batch_size' must be a number, got 'x'",
        ),
        (
            "phase,batch_size,prompt_tokens,context_tokens,time_s\ndecode,1,10,0,0.1\n",
            ":2: column 'context_tokens' must be positive",
        ),
        ("phase,batch_size,prompt_tokens,context_tokens,time_s\n", "no measurements"),
    ],
)
def test_bad_measurement_files_name_line_column_and_value(tmp_path, text, expected):
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_measurements(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_fit_needs_both_phases():
    with pytest.raises(InputError, match="prefill_token and prefill_token_sq: there are no prefill rows"):
        fit_measurements([m for m in sweep() if m.phase == "decode"])


def test_splitwise_rows_become_one_prefill_and_one_decode_measurement(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(
        "model,hardware,prompt_size,batch_size,token_size,prompt_time,token_time,tensor_parallel\n"
        "llama2-70b,a100-80gb,512,4,128,531.7,45.2,4\n"
    )
    (rows,) = read_splitwise(path).values()
    assert [(m.phase, m.batch_size, m.prompt_tokens, m.context_tokens) for m in rows] == [
        ("prefill", 4, 512, 0.0),
        ("decode", 4, 512, 576.0),
    ]
    assert [m.time_s for m in rows] == pytest.approx([0.5317, 0.0452])
    assert np.isclose(rows[1].features()[4], 4 * 576)
