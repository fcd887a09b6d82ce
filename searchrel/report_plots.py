"""The demo report's figures, drawn with matplotlib into PNG files beside the page.

Each function takes plain numbers and a path and knows nothing of where the
numbers came from; the section builders (`searchrel.report_sections`) decide
what to draw. The scaling figure is drawn by `modeling.scaling_plot`, shared
with the job that runs the experiment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 110


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def bar_chart(path: Path, groups: dict[str, dict[str, float | None]], metrics: Sequence[tuple[str, str]],
              title: str) -> None:
    """Grouped bars: one group per metric any model has, one bar per model (a missing value draws as 0)."""
    names = list(groups)
    shown = [m for m, _ in metrics if any(groups[n].get(m) is not None for n in names)]
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(shown))
    for i, name in enumerate(names):
        values = [groups[name].get(m) or 0.0 for m in shown]
        ax.bar(x + i * width - 0.4 + width / 2, values, width, label=name)
    ax.set_xticks(x, [dict(metrics)[m] for m in shown])
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)


def volumes_chart(path: Path, counts: Sequence[tuple[str, int]]) -> None:
    """Rows per table on a log scale, first table on top."""
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(counts) + 1))
    ax.barh([n for n, _ in counts][::-1], [c for _, c in counts][::-1], color="#4c72b0")
    ax.set_xscale("log")
    ax.set_xlabel("rows (log scale)")
    _save(fig, path)


def confusion_chart(path: Path, matrices: Sequence[tuple[str, np.ndarray]]) -> None:
    """One 5x5 heatmap per model: rows human labels, columns predictions."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.2 * len(matrices), 3.8))
    for ax, (name, matrix) in zip(np.atleast_1d(axes), matrices):
        ax.imshow(matrix, cmap="Blues")
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, int(value), ha="center", va="center", fontsize=8,
                    color="white" if value > matrix.max() / 2 else "black")
        ax.set_xticks(range(5), [f"L{k}" for k in range(1, 6)])
        ax.set_yticks(range(5), [f"L{k}" for k in range(1, 6)])
        ax.set_xlabel("predicted")
        ax.set_ylabel("human label")
        ax.set_title(name)
    _save(fig, path)


def reliability_chart(path: Path, curves: Sequence[tuple[str, Sequence[float], Sequence[float]]]) -> None:
    """(label, confidence per bin, accuracy per bin) per model against the diagonal."""
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    for label, confidence, accuracy in curves:
        ax.plot(confidence, accuracy, marker="o", label=label)
    ax.set_xlabel("predicted confidence")
    ax.set_ylabel("observed accuracy")
    ax.legend(fontsize=8)
    _save(fig, path)
