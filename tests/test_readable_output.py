"""Every table hexsim prints is complete at 80 columns, in a terminal and in a pipe: no ellipsis, and
every name and number of the report in its row and column."""

import contextlib
import io
import json
import re

import numpy as np
import optuna
import pytest
from rich.console import Console

from hexsim.cli import build_parser, main
from hexsim.cli import capacity as capacity_command
from hexsim.cli import compare as compare_command
from hexsim.cli import tune as tune_command
from hexsim.cli.profile import validate as validate_command
from hexsim.metrics.base_slo import base_slo
from hexsim.metrics.throughput import Throughput
from hexsim.profiles.fit import fit_measurements, predict
from hexsim.profiles.latency import IterationCoefficients
from hexsim.profiles.measurements import Measurement, write_measurements
from hexsim.profiles.resolve import resolve_profile
from hexsim.resources import default_trace
from hexsim.tune.capacity import Candidate, cluster_of
from hexsim.tune.runner import TuneSetup
from hexsim.workload.traces import load_trace, save_trace
from tests.profiles.test_fit import SPLITWISE
from tests.tune.helpers import small_experiment

MODEL = "meta-llama/Llama-3.1-70B-Instruct"


@pytest.fixture(params=["terminal", "pipe"])
def console(request):
    """A console 80 columns wide: a terminal (styles on, text exported) or a pipe."""
    if request.param == "terminal":
        return Console(file=io.StringIO(), width=80, force_terminal=True, color_system="truecolor", record=True)
    return Console(file=io.StringIO(), width=80, force_terminal=False)


def text_of(console: Console) -> str:
    text = console.export_text() if console.record else console.file.getvalue()
    assert "…" not in text and "..." not in text
    # Notes of what was written are one line each, whatever their length: a terminal folds them.
    assert max(len(line) for line in text.splitlines() if not line.startswith("wrote ")) <= 80
    return text


def block(text: str, start: str, end: str | None = None) -> str:
    """The text from the line holding `start` to the line holding `end` (or the end)."""
    begin = text.index(start)
    return text[begin : text.index(end, begin + len(start)) if end else len(text)]


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def table(text: str) -> dict[str, dict[str, str]]:
    """The rows of a table (its parts, if it was split) by their first cell: column header -> cell."""
    lines = text.splitlines()
    rows: dict[str, dict[str, str]] = {}
    header: list[str] | None = None
    for line, after in zip(lines, [*lines[1:], ""], strict=True):
        if set(after.strip()) == {"─"}:
            header = cells(line)
        elif header is not None and line.strip() and set(line.strip()) != {"─"}:
            row = cells(line)
            names = header if len(header) == len(row) else header[len(header) - len(row) + 1 :]
            values = row if len(header) == len(row) else row[1:]
            if values and len(names) == len(values):
                rows.setdefault(row[0], {}).update(zip(names, values, strict=True))
    return rows


def leaves(data, path=()) -> set[tuple]:
    """The path of every number and string in a JSON document."""
    if isinstance(data, dict):
        return set().union(*(leaves(v, (*path, k)) for k, v in data.items()))
    if isinstance(data, list):
        return set().union(*(leaves(v, (*path, i)) for i, v in enumerate(data)))
    return {path}


def seconds(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def times(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("trace") / "small_trace.jsonl"
    save_trace(load_trace(default_trace(), prefix_model="chess")[:30], path)  # with CHESS prefix segments
    return path


def run(console: Console, *argv: str) -> None:
    args = build_parser().parse_args(list(argv))
    args.run(args, console, Console(file=io.StringIO()))


def test_simulate_prints_every_number_of_its_report(capsys, console, trace):
    argv = ["simulate", "--trace", str(trace), "--rate", "0.08", "--slo-scale", "1.8"]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    run(console, *argv)
    text = text_of(console)
    checked = set()

    def expect(path, rows, row, column, value):
        assert rows[row][column] == value, (path, row, column)
        checked.add(path)

    attainment = table(block(text, "SLO attainment", "Latency and completion"))
    latency = table(block(text, "Latency and completion", "Instance utilisation"))
    instances = table(block(text, "Instance utilisation", "Prefix cache:"))
    hits = table(block(text, "Prefix cache:", "Prompt tokens computed"))
    computed = table(block(text, "Prompt tokens computed", "Queue wait per step, mean"))
    mean_wait = table(block(text, "Queue wait per step, mean", "Queue wait per step, P95"))
    p95_wait = table(block(text, "Queue wait per step, P95"))
    base = report["base_slo_s"]
    for path, value in [
        (("base_slo_s",), f"Base SLO {base:.1f} s"),
        (("base_slo_rule",), f"Base SLO {base:.1f} s (trace): the mean standalone latency of the trace's queries"),
        (("slo_scale",), "at SLO scale 1.8 ("),
    ]:
        assert value in " ".join(text.split())
        checked.add(path)
    for key, value in report["setup"].items():
        assert str(value) in " ".join(text.split()), key
        checked.add(("setup", key))
    for name, p in report["policies"].items():
        for scale, share in p["attainment"].items():
            expect(("policies", name, "attainment", scale), attainment, f"{scale}x", name, f"{share:.1%}")
            assert attainment[f"{scale}x"]["SLO (s)"] == f"{float(scale) * base:.1f}"
        assert latency["attainment at 1.8x"][name] == f"{p['attainment']['1.8']:.1%}"
        for key, label, shown in [
            ("deadline_p95_s", "deadline p95 (s)", seconds),
            ("deadline_p95_scale", "deadline p95 (x base)", times),
            ("deadline_p99_s", "deadline p99 (s)", seconds),
            ("deadline_p99_scale", "deadline p99 (x base)", times),
            ("p50_s", "latency p50 (s)", seconds),
            ("p95_s", "latency p95 (s)", seconds),
            ("p99_s", "latency p99 (s)", seconds),
            ("calls", "calls", str),
            ("preemptions", "preemptions", str),
            ("makespan_s", "makespan (s)", seconds),
        ]:
            expect(("policies", name, key), latency, label, name, shown(p[key]))
        expect(("policies", name, "completed"), latency, "completed queries", name, f"{p['completed']}/{p['queries']}")
        checked.add(("policies", name, "queries"))
        for instance, share in p["utilisation"].items():
            expect(("policies", name, "utilisation", instance), instances, instance, name, f"{share:.0%}")
        for instance, cache in p["prefix_cache"].items():
            path = ("policies", name, "prefix_cache", instance)
            expect((*path, "hit_rate"), hits, instance, name, f"{cache['hit_rate']:.1%}")
            shown = f"{cache['computed'] / 1e6:.2f}/{cache['requested'] / 1e6:.2f}"
            expect((*path, "computed"), computed, instance, name, shown)
            checked.add((*path, "requested"))
        assert "all" in p["prefix_cache"] and 0 < p["prefix_cache"]["all"]["hit_rate"] < 1
        for step, wait in p["queue_wait"].items():
            expect(("policies", name, "queue_wait", step, "mean_s"), mean_wait, step, name, f"{wait['mean_s']:.2f}")
            expect(("policies", name, "queue_wait", step, "p95_s"), p95_wait, step, name, f"{wait['p95_s']:.2f}")
    assert checked == leaves(report)
    assert any(" " in step for step in mean_wait) and "generate_candidate_llama-agent" in mean_wait


@pytest.fixture(scope="module")
def compared(trace, tmp_path_factory):
    """The JSON report of compare over two traces, two rates and two seeds, and the traces' file names."""
    other = tmp_path_factory.mktemp("other") / "other_trace.jsonl"
    save_trace(load_trace(default_trace())[30:45], other)
    argv = [
        "compare",
        "--trace",
        str(trace),
        "--trace",
        str(other),
        "--rates",
        "0.03",
        "0.07",
        "--seeds",
        "2",
        "--span-slos",  # what is printed is under test, not how precise the throughput is: short samples
        "2",
        "--json",
    ]
    args = build_parser().parse_args(argv)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        args.run(args, Console(file=io.StringIO()), Console(file=io.StringIO()))
    return json.loads(out.getvalue()), {"small_trace": trace.name, "other_trace": other.name}


def test_compare_prints_every_number_of_its_report_at_every_rate(console, compared):
    report, files = compared
    compare_command.render(report, console, files)
    text = text_of(console)
    flat = " ".join(text.split())
    checked = set()

    def expect(path, rows, row, column, value):
        assert rows[row][column] == value, (path, row, column)
        checked.add(path)

    rates = report["setup"]["rates"]
    for path, value in [
        (("base_slo_rule",), "(trace): the mean standalone latency of the trace's queries"),
        (("slo_scale",), "within 3 x base SLO"),
        (("target",), "at which 95% of the queries"),
        (("setup", "cluster"), "paper.toml"),
        (("setup", "seeds", 0), "(seeds 0-1)"),
        (("setup", "seeds", 1), "(seeds 0-1)"),
        (("setup", "span_slos"), "arriving over at least 2 SLOs"),
        (("setup", "config", "policy"), "hexgen"),
        *(
            (("setup", "config", key), f"{key} {value:g}")
            for key, value in report["setup"]["config"].items()
            if key != "policy"
        ),
        *((("setup", "rates", i), f" at {rate:g} q/s") for i, rate in enumerate(rates)),
    ]:
        assert value in flat, path
        checked.add(path)
    stems = list(report["traces"])
    for stem, t in report["traces"].items():
        name = files[stem]
        titles = [f"{name} at {rate:g} q/s" for rate in rates]
        ends = [*titles[1:], f"{name}: throughput"]
        by_rate = {
            f"{rate:g}": table(block(text, title, end)) for rate, title, end in zip(rates, titles, ends, strict=True)
        }
        following = stems[stems.index(stem) + 1 :]
        summary = table(
            block(
                text,
                f"{name}: throughput, and ratios to the baselines at {t['reference_rate']:g} q/s",
                f"{files[following[0]]} at {rates[0]:g} q/s" if following else None,
            )
        )
        checked.add(("traces", stem, "reference_rate"))
        assert f"{name}: Base SLO {t['base_slo_s']:.1f} s (trace)" in flat
        checked.add(("traces", stem, "base_slo_s"))
        for policy, p in t["policies"].items():
            for rate, r in p["by_rate"].items():
                for where, shown in [(("by_rate", rate), r), ((), p if rate == f"{rates[0]:g}" else None)]:
                    if shown is None:
                        continue
                    for scale, share in shown["attainment"].items():
                        path = ("traces", stem, "policies", policy, *where, "attainment", scale)
                        expect(path, by_rate[rate], f"attainment at {scale}x", policy, f"{share:.1%}")
                    for key, label, fmt in [
                        ("deadline_p95_s", "deadline p95 (s)", seconds),
                        ("deadline_p95_scale", "deadline p95 (x base)", times),
                        ("deadline_p99_s", "deadline p99 (s)", seconds),
                        ("deadline_p99_scale", "deadline p99 (x base)", times),
                        ("p95_s", "latency p95 (s)", seconds),
                        ("prefix_cache_hit_rate", "prefix cache hits", lambda v: f"{v:.1%}"),
                    ]:
                        path = ("traces", stem, "policies", policy, *where, key)
                        expect(path, by_rate[rate], label, policy, fmt(shown[key]))
            path = ("traces", stem, "policies", policy, "throughput_p95_qps")
            found = Throughput(p["throughput_p95_qps"], p["throughput_p95_bound"])
            expect(path, summary, "throughput (q/s)", policy, found.describe())
            checked.add(("traces", stem, "policies", policy, "throughput_p95_bound"))
            for baseline in ("vllm", "lor"):
                for key, label in [("deadline_p95", "deadline p95"), ("deadline_p99", "deadline p99")]:
                    path = ("traces", stem, "policies", policy, f"ratios_vs_{baseline}", key)
                    expect(path, summary, f"{label} vs {baseline}", policy, times(p[f"ratios_vs_{baseline}"][key]))
                path = ("traces", stem, "policies", policy, f"ratios_vs_{baseline}", "throughput_p95")
                ratio = p[f"ratios_vs_{baseline}"]["throughput_p95"]
                expect(path, summary, f"throughput vs {baseline}", policy, times(ratio))
    assert checked == leaves(report)


def test_tune_prints_its_best_trials_and_the_config_as_a_person_reads_it(console, trace, tmp_path):
    out = tmp_path / "tuned.toml"
    run(console, "tune", "--trace", str(trace), "--trials", "7", "--seeds", "1", "--out", str(out))
    text = text_of(console)
    rows = table(block(text, "Best of 7 trials"))
    assert len(rows) == 5
    values = {float(row["attainment"]) for row in rows.values()}
    assert all(0 <= v <= 1 for v in values)
    assert f"wrote {out}: [scheduler] policy hexgen, alpha " in " ".join(text.split())
    assert "SchedulerConfig(" not in text


def test_tune_table_rows_are_the_trials(console):
    distributions = {
        "alpha": optuna.distributions.FloatDistribution(0, 1),
        "beta": optuna.distributions.FloatDistribution(0.1, 100, log=True),
        "eps": optuna.distributions.FloatDistribution(0.01, 10, log=True),
        "max_running": optuna.distributions.IntDistribution(0, 64),
    }
    rng = np.random.default_rng(3)
    trials = []
    for number in range(8):
        params = {"alpha": rng.uniform(), "beta": rng.uniform(0.1, 100), "eps": rng.uniform(0.01, 10)}
        trial = optuna.trial.create_trial(
            params={**params, "max_running": int(rng.integers(0, 64))},
            distributions=distributions,
            value=float(rng.uniform()),
        )
        trial.number = number
        trials.append(trial)
    tune_command.render(trials, TuneSetup(small_experiment(), n_trials=8), console)
    rows = table(text_of(console))
    best = sorted(trials, key=lambda t: t.value, reverse=True)[:5]
    assert list(rows) == [str(t.number) for t in best]
    for t in best:
        row = rows[str(t.number)]
        assert row["alpha"] == f"{t.params['alpha']:.3f}" and row["beta"] == f"{t.params['beta']:.3g}"
        assert row["eps"] == f"{t.params['eps']:.3g}" and row["max_running"] == str(t.params["max_running"])
        assert row["attainment"] == f"{t.value:.4g}"


def test_capacity_table_rows_are_the_clusters_that_meet_the_target(console):
    types = [resolve_profile(MODEL, gpu, None, "test") for gpu in ("A100-80GB", "L40S", "A6000", "H100-80GB")]
    experiment = small_experiment()
    experiment = type(experiment)(**{**vars(experiment), "base_slo": base_slo(types)})
    evaluated = [
        Candidate((1, 0, 0, 0), 8.0, 0.4),
        Candidate((0, 3, 0, 0), 12.25, 0.97),
        Candidate((2, 1, 3, 1), 61.5, 0.955),
        Candidate((3, 3, 3, 3), 99.125, 1.0),
    ]
    feasible = evaluated[1:]
    capacity_command.render(evaluated, feasible, types, experiment, console)
    rows = table(text_of(console))
    assert list(rows) == ["1", "2", "3"]
    for rank, c in enumerate(feasible, start=1):
        row = rows[str(rank)]
        assert [row[f"{p.gpu} TP{p.tp}"] for p in types] == [str(n) for n in c.counts]
        assert row["$/hour"] == f"{c.price_per_hour:.2f}" and row["attainment"] == f"{c.attainment:.1%}"
    assert cluster_of(MODEL, types, feasible[1].counts).instances  # the mix is a cluster


def test_profile_show_prints_every_coefficient_and_curve(console):
    run(console, "profile", "show", "Llama-3.1-70B", "A100")
    text = text_of(console)
    profile = resolve_profile(MODEL, "A100-80GB", None, "test")
    c = profile.coefficients
    rows = table(block(text, "Iteration time", "KV cache"))
    assert rows["base"]["value"] == f"{c.base * 1e3:.3f} ms"
    assert rows["prefill_token_sq"]["value"] == f"{c.prefill_token_sq * 1e12:.3f} ps"
    assert rows["context_token"]["feature"] == "token a decoding sequence attends to"
    curves = table(block(text, "Curves"))
    assert curves["16384"]["prefill (s)"] == f"{profile.prefill_time(16384):.3f}"
    assert curves["4096"]["decode batch"] == "32"


def test_profile_fit_prints_the_residuals_of_the_fit(console, tmp_path):
    true = IterationCoefficients(
        base=0.03, prefill_token=2e-4, prefill_token_sq=8e-9, decode_seq=1e-4, context_token=3e-7
    )
    rows = [Measurement("prefill", b, p, 0.0, 0.0) for b in (1, 2, 8) for p in (128, 512, 2048, 8192)]
    rows += [Measurement("decode", b, 512, c, 0.0) for b in (1, 4, 16, 64) for c in (600, 2000, 8000)]
    noise = np.random.default_rng(0).uniform(0.9, 1.1, len(rows))
    rows = [
        Measurement(m.phase, m.batch_size, m.prompt_tokens, m.context_tokens, float(t * k))
        for m, t, k in zip(rows, predict(true, rows), noise, strict=True)
    ]
    data = tmp_path / "m.csv"
    write_measurements(rows, data)
    run(
        console,
        "profile",
        "fit",
        str(data),
        "--model",
        "llama2-70b",
        "--gpu",
        "A100",
        "--out",
        str(tmp_path / "p.toml"),
    )
    result = fit_measurements(rows)
    residuals = table(block(text_of(console), "Residuals"))
    for phase in ("prefill", "decode"):
        used = [i for i, m in enumerate(rows) if m.phase == phase and i not in result.outliers]
        errors = np.abs(result.relative_errors[used])
        assert residuals[phase]["rows"] == str(len(used))
        assert residuals[phase]["MAPE"] == f"{errors.mean():.1%}"
        assert residuals[phase]["median"] == f"{np.median(errors):.1%}"


@pytest.fixture(scope="module")
def comparisons():
    if not SPLITWISE.is_file():
        pytest.skip("the shared measurements are not beside this checkout")
    from hexsim.profiles.splitwise import read_splitwise
    from hexsim.profiles.step_fit import read_step_latencies
    from hexsim.profiles.validation import splitwise_comparisons, step_comparisons

    steps = read_step_latencies(SPLITWISE.parent / "step_latency_llama31_70b.csv")
    splitwise = read_splitwise(SPLITWISE)
    return step_comparisons(steps, splitwise) + splitwise_comparisons(steps, splitwise)


def test_profile_validate_prints_every_method_of_every_gpu(console, comparisons):
    validate_command.render(comparisons, console)
    lines = text_of(console).splitlines()
    for c in comparisons:
        shown = [c.method, f"{c.mape:.1%}", f"{c.worst:+.0%}"]
        assert any(line.strip() and cells(line)[-3:] == shown for line in lines), (c.dataset, c.gpu, c.tp, c.method)
    gpus = {(c.gpu, str(c.tp)) for c in comparisons}
    assert all(any(cells(line)[:2] == [gpu, tp] for line in lines) for gpu, tp in gpus)


def test_a_live_report_leaves_out_what_a_client_cannot_see(console):
    from hexsim.metrics.records import CallRecord, QueryRecord, RunRecords
    from hexsim.metrics.report import policy_summary, render_report, simulate_report

    calls = (CallRecord("q", 0, 0, "revise", "host:1", 100, 10, 0.0, None, 1.0, 3.0, None),)
    run_records = RunRecords("live", (QueryRecord("q", 0.0, 10.0, 3.0, 1),), calls, (), 3.0)
    summary = policy_summary(run_records, 5.0, (1.0, 2.0))
    setup = {"cluster": "c.toml", "instances": 4, "trace": "t.json", "arrivals": "poisson", "seed": 0}
    render_report(simulate_report(5.0, 2.0, {"live": summary}, setup, "trace"), console)
    text = text_of(console)
    assert "Instance utilisation" not in text and "Queue wait" not in text
    assert table(block(text, "Latency and completion"))["preemptions"]["live"] == "-"
