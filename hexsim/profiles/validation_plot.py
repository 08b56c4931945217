"""Predicted against measured latency, one panel per data set.

Methods often predict nearly the same value: hollow markers of distinct shapes keep each visible.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from hexsim.metrics.plots import save_figure
from hexsim.profiles.validation import Comparison

MARKERS = ("o", "s", "^", "D", "v")


def plot_validation(path: Path, comparisons: Sequence[Comparison]) -> None:
    datasets = list(dict.fromkeys(c.dataset for c in comparisons))
    fig = Figure(figsize=(5.2 * len(datasets), 4.6), layout="constrained")
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    for ax, dataset in zip(axes, datasets, strict=True):
        mine = [c for c in comparisons if c.dataset == dataset]
        methods = list(dict.fromkeys(c.method for c in mine))
        values = np.concatenate([c.measured for c in mine] + [c.predicted for c in mine])
        span = np.array([values.min() / 1.5, values.max() * 1.5])
        ax.plot(span, span, color="black", lw=0.8)
        ax.fill_between(span, span / 1.2, span * 1.2, color="grey", alpha=0.15, label="within 20%")
        for i, method in enumerate(methods):
            rows = [c for c in mine if c.method == method]
            measured = np.concatenate([c.measured for c in rows])
            predicted = np.concatenate([c.predicted for c in rows])
            mape = np.mean(np.abs(predicted / measured - 1))
            ax.scatter(
                measured,
                predicted,
                s=18,
                marker=MARKERS[i % len(MARKERS)],
                facecolors="none",
                edgecolors=f"C{i}",
                linewidths=0.9,
                label=f"{method}: error {mape:.1%} over {len(measured)} rows",
            )
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="measured (s)",
            ylabel="predicted (s)",
            title=f"{dataset}: predicted against measured latency",
        )
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="upper left")
    save_figure(fig, path)
