"""Figures of a comparison: attainment against SLO scale, latency CDFs, throughput bars."""

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from hexsim.atomic import atomic_open
from hexsim.metrics.records import QueryRecord
from hexsim.metrics.summary import attainment

Runs = Mapping[str, Mapping[str, Sequence[QueryRecord]]]  # trace -> policy -> query records
# Policies often coincide (e.g. at low load); dashes keep every line visible.
STYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)))


def save_figure(fig: Figure, path: Path) -> None:
    with atomic_open(path, binary=True) as handle:
        fig.savefig(handle, format="png", dpi=120, bbox_inches="tight")


def _grid(n: int):
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.8 * cols, 3.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def plot_attainment(path: Path, runs: Runs, base_slo: float, title: str) -> None:
    fig, axes = _grid(len(runs))
    scales = np.linspace(0.25, 6.0, 47)
    for ax, (trace, policies) in zip(axes, runs.items(), strict=False):
        for i, (policy, queries) in enumerate(policies.items()):
            curve = [attainment(queries, s * base_slo) for s in scales]
            ax.plot(scales, curve, ls=STYLES[i % len(STYLES)], label=policy)
        ax.axhline(0.95, color="grey", lw=0.8, ls=":")
        ax.set(title=trace, xlabel=f"SLO scale (x {base_slo:.1f} s)", ylabel="SLO attainment", ylim=(0, 1.02))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    save_figure(fig, path)


def plot_latency_cdf(path: Path, runs: Runs, title: str) -> None:
    fig, axes = _grid(len(runs))
    for ax, (trace, policies) in zip(axes, runs.items(), strict=False):
        for i, (policy, queries) in enumerate(policies.items()):
            latencies = np.sort([q.latency for q in queries])
            shares = np.arange(1, len(latencies) + 1) / len(latencies)
            finite = np.isfinite(latencies)
            ax.step(latencies[finite], shares[finite], where="post", ls=STYLES[i % len(STYLES)], label=policy)
        ax.set(title=trace, xlabel="end-to-end latency (s)", ylabel="share of queries", ylim=(0, 1.02))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    save_figure(fig, path)


def plot_throughput(path: Path, throughput: Mapping[str, Mapping[str, float]], title: str) -> None:
    traces = list(throughput)
    policies = list(next(iter(throughput.values())))
    width = 0.8 / len(policies)
    fig = Figure(figsize=(max(5.0, 1.6 * len(traces) + 2), 3.6), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(traces))
    for i, policy in enumerate(policies):
        ax.bar(x + i * width, [throughput[t][policy] for t in traces], width, label=policy)
    ax.set_xticks(x + width * (len(policies) - 1) / 2, traces)
    ax.set(ylabel="queries/s at 95% attainment", title=title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
