"""Figures of a comparison: attainment against SLO scale, latency CDFs, throughput bars."""

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from hexsim.atomic import atomic_open
from hexsim.metrics.records import QueryRecord
from hexsim.metrics.summary import Slo, attainment, scaled

Runs = Mapping[str, Mapping[str, Sequence[QueryRecord]]]  # panel title -> policy -> query records
# Policies often coincide (e.g. at low load, or when a policy's parts change nothing). Each has
# its colour, dashes and marker; markers sit at staggered places, and lines drawn first are
# wider, so a line drawn over another leaves it showing along both edges.
STYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
TARGET = 0.95


def save_figure(fig: Figure, path: Path) -> None:
    with atomic_open(path, binary=True) as handle:
        fig.savefig(handle, format="png", dpi=120, bbox_inches="tight")


def _grid(n: int, columns: int | None):
    cols = columns or min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.8 * cols, 3.8 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def _style(i: int, n: int) -> dict:
    """Line style of the i-th of n policies."""
    return {
        "color": f"C{i}",
        "ls": STYLES[i % len(STYLES)],
        "lw": 1.2 + 0.7 * (n - 1 - i),
        "alpha": 0.9,
        "marker": MARKERS[i % len(MARKERS)],
        "markersize": 5,
        "markevery": (0.03 + 0.035 * i, 0.18),
    }


def _target_line(ax, label: str) -> None:
    ax.axhline(TARGET, color="grey", lw=0.9, ls=":", label=label)
    ax.annotate(
        f"{TARGET:.0%}",
        (0.0, TARGET),
        xycoords=("axes fraction", "data"),
        xytext=(3, 2),
        textcoords="offset points",
        va="bottom",
        fontsize=8,
        color="dimgrey",
    )


def _legend(fig: Figure, ax) -> None:
    """One legend for all panels, under them, where it hides no line."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8, handlelength=4)


def plot_attainment(
    path: Path, runs: Runs, base_slo: float | Mapping[str, Slo], title: str, columns: int | None = None
) -> None:
    """One panel per entry of `runs`, titled with its key: attainment against SLO scale, a line per policy.

    `base_slo` is one for every panel, or each panel's by its key: one base SLO, or one per workflow of a
    mixed trace (`hexsim.metrics.summary.Slo`).
    """
    fig, axes = _grid(len(runs), columns)
    scales = np.linspace(0.25, 6.0, 47)
    for ax, (panel, policies) in zip(axes, runs.items(), strict=False):
        base = base_slo[panel] if isinstance(base_slo, Mapping) else base_slo
        for i, (policy, queries) in enumerate(policies.items()):
            curve = [attainment(queries, scaled(base, s)) for s in scales]
            ax.plot(scales, curve, label=policy, **_style(i, len(policies)))
        _target_line(ax, f"{TARGET:.0%} attainment")
        shown = ", ".join(f"{w} {b:.1f} s" for w, b in base.items()) if isinstance(base, Mapping) else f"{base:.1f} s"
        ax.set(
            title=f"{panel}\nSLO attainment by SLO scale",
            xlabel=f"SLO scale (x base SLO {shown})",
            ylabel="share of queries within the SLO",
            ylim=(0, 1.02),
        )
        ax.grid(alpha=0.3)
    _legend(fig, axes[0])
    fig.suptitle(title)
    save_figure(fig, path)


def plot_latency_cdf(path: Path, runs: Runs, title: str, columns: int | None = None) -> None:
    """One panel per entry of `runs`, titled with its key: the CDF of end-to-end latency, a line per policy."""
    fig, axes = _grid(len(runs), columns)
    for ax, (panel, policies) in zip(axes, runs.items(), strict=False):
        for i, (policy, queries) in enumerate(policies.items()):
            latencies = np.sort([q.latency for q in queries])
            shares = np.arange(1, len(latencies) + 1) / len(latencies)
            finite = np.isfinite(latencies)
            ax.step(latencies[finite], shares[finite], where="post", label=policy, **_style(i, len(policies)))
        _target_line(ax, f"{TARGET:.0%} of queries")
        ax.set(
            title=f"{panel}\nlatency CDF (unfinished queries never reach 1)",
            xlabel="end-to-end latency (s)",
            ylabel="share of queries done",
            ylim=(0, 1.02),
        )
        ax.grid(alpha=0.3)
    _legend(fig, axes[0])
    fig.suptitle(title)
    save_figure(fig, path)


def plot_throughput(
    path: Path,
    throughput: Mapping[str, Mapping[str, float]],
    title: str,
    bounds: Mapping[str, Mapping[str, str | None]] | None = None,
) -> None:
    """A group of bars per trace, a bar per policy, each labelled with its rate: `>= rate` where `bounds` says
    the rate is a lower bound ("at_least"), `< rate` an upper one ("at_most")."""
    traces = list(throughput)
    policies = list(next(iter(throughput.values())))
    width = 0.8 / len(policies)
    fig = Figure(figsize=(max(6.0, 1.8 * len(traces) + 2), 4.0), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(traces))
    for i, policy in enumerate(policies):
        bars = ax.bar(
            x + i * width,
            [throughput[t][policy] for t in traces],
            width,
            label=policy,
            color=f"C{i}",
            hatch=("", "//", "..", "xx", "\\\\")[i % 5],
            edgecolor="white",
        )
        marks = [{"at_least": ">= ", "at_most": "< "}.get((bounds or {}).get(t, {}).get(policy), "") for t in traces]
        labels = [f"{mark}{throughput[t][policy]:.4f}" for mark, t in zip(marks, traces, strict=True)]
        ax.bar_label(bars, labels=labels, fontsize=7, rotation=90, padding=2)
    ax.set_xticks(x + width * (len(policies) - 1) / 2, traces)
    ax.margins(y=0.15)
    ax.set(ylabel="queries/s", title=title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    save_figure(fig, path)
