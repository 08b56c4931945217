"""`hexsim compare`: every rate in its tables and figures, a progress bar with a true total, where
the files went, and a warning where the cluster cannot keep up."""

import json
import re

import pytest

from hexsim import progress
from hexsim.cli import main
from hexsim.metrics import plots
from hexsim.resources import default_trace
from hexsim.sim import comparison, throughput
from hexsim.workload.traces import load_trace, save_trace


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    folder = tmp_path_factory.mktemp("traces")
    paths = [folder / "first.jsonl", folder / "second.jsonl"]
    queries = load_trace(default_trace())
    save_trace(queries[:12], paths[0])
    save_trace(queries[20:30], paths[1])
    return [str(p) for p in paths]


def test_every_rate_is_in_the_tables_and_figures(monkeypatch, capsys, traces, tmp_path):
    figures = {}
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.setdefault(path.name, fig))
    out = tmp_path / "results"
    args = ["compare", "--trace", traces[0], "--trace", traces[1], "--rates", "0.03", "0.05", "0.08"]
    args += ["--span-slos", "2"]  # what compare prints and writes is under test: short sustained samples will do
    assert main([*args, "--policy", "vllm", "--policy", "lor", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    panels = [f"{name}, {rate} q/s" for name in ("first.jsonl", "second.jsonl") for rate in ("0.03", "0.05", "0.08")]
    for name in ("first.jsonl", "second.jsonl"):
        for rate in ("0.03", "0.05", "0.08"):
            assert f"\n{name} at {rate} q/s\n" in text
    for figure in ("attainment.png", "latency_cdf.png"):
        titles = [ax.get_title() for ax in figures[figure].axes if ax.get_visible()]
        assert [t.splitlines()[0] for t in titles] == panels
    throughput = figures["throughput.png"].axes[0]
    assert [t.get_text() for t in throughput.get_xticklabels()] == ["first.jsonl", "second.jsonl"]
    assert f"wrote {out}/: report.json, attainment.png, latency_cdf.png and throughput.png" in text.splitlines()
    report = json.loads((out / "report.json").read_text())
    assert report["setup"]["rates"] == [0.03, 0.05, 0.08]
    for t in report["traces"].values():
        assert t["reference_rate"] == 0.03 and set(t["policies"]["lor"]["by_rate"]) == {"0.03", "0.05", "0.08"}


class Recorder:
    """A progress bar that remembers what it was told."""

    def __init__(self, console, description, total):
        self.total = total
        self.advanced = 0
        self.descriptions = [description]

    @property
    def done(self):
        return self.advanced

    def describe(self, description):
        self.descriptions.append(description)

    def advance(self, n=1):
        self.advanced += n


def test_the_progress_total_is_the_work_to_do(monkeypatch, capsys, traces):
    bars = []

    def recorded(console, description, total):
        bars.append(Recorder(console, description, total))
        return nullcontext(bars[-1])

    from contextlib import nullcontext

    simulations = []
    replayed = comparison.run_records
    monkeypatch.setattr(comparison, "run_records", lambda *a: simulations.append(a) or replayed(*a))
    sustained = throughput.run_sustained
    monkeypatch.setattr(throughput, "run_sustained", lambda *a: simulations.append(a) or sustained(*a))
    monkeypatch.setattr(progress, "lazy_progress", recorded)
    args = ["compare", "--trace", traces[0], "--trace", traces[1], "--rates", "0.03", "0.05", "--seeds", "2"]
    args += ["--span-slos", "2"]
    assert main([*args, "--policy", "vllm", "--policy", "lor", "--policy", "hexgen", "--json"]) == 0
    (bar,) = bars
    assert bar.total == 2 * 3 == bar.advanced
    assert bar.descriptions[-1] == f"second.jsonl, hexgen, {len(simulations)} runs"
    assert len(simulations) > 2 * 3 * 2 * 2  # the throughput searches ran more than the rates asked for
    assert "?" not in "".join(bar.descriptions)
    capsys.readouterr()


def test_the_bar_shows_done_of_total(monkeypatch):
    import io

    from rich.console import Console

    monkeypatch.setattr(progress, "SHOW_AFTER_S", 0.0)
    console = Console(file=io.StringIO(), force_terminal=True, width=80)
    with progress.lazy_progress(console, "comparing", 6) as bar:
        bar.describe("first.jsonl, lor, 7 runs")
        bar.advance()
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", console.file.getvalue())
    assert "first.jsonl, lor, 7 runs" in shown and "1/6" in shown and "?" not in shown


def test_the_bar_stays_out_of_a_pipe(monkeypatch):
    import io

    from rich.console import Console

    monkeypatch.setattr(progress, "SHOW_AFTER_S", 0.0)
    console = Console(file=io.StringIO(), force_terminal=False)
    with progress.lazy_progress(console, "comparing", 2) as bar:
        bar.advance()
    assert console.file.getvalue() == ""


def test_an_overloaded_rate_warns_once_per_trace_and_rate(capsys, tmp_path):
    trace = tmp_path / "hundred.jsonl"
    save_trace(load_trace(default_trace())[:100], trace)
    args = ["compare", "--trace", str(trace), "--rates", "0.1", "0.8", "--policy", "vllm", "--policy", "lor", "--json"]
    args += ["--span-slos", "2"]
    assert main(args) == 0
    assert capsys.readouterr().err.splitlines() == [
        "hexsim: warning: hundred.jsonl at 0.8 q/s: the cluster cannot keep up under vllm, lor; its backlog grows, so "
        "attainment reflects the trace's length more than the policy"
    ]
