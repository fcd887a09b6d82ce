"""The scaling experiment's figure: student quality against the number of teacher-labelled rows.

One drawing for the job that runs the experiment (`student-train --scaling`
writes reports/student_scaling.png) and the demo report, which redraws it from
reports/student_scaling.json; kept apart from student_evaluation so that
drawing it needs matplotlib only, not torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

# (key in a scaling point / the human-only baseline, label on the figure)
SCALING_METRICS = (("accuracy", "accuracy"), ("macro_f1", "macro-F1"), ("quadratic_weighted_kappa", "QWK"),
                   ("ndcg_at_10", "nDCG@10"))


def plot_scaling(points: Sequence[Mapping[str, Any]], baseline: Mapping[str, Any] | None, path: str | Path) -> Path:
    """Student quality against teacher-labelled rows (log x); the human-only student as dashed lines.

    Error bars are ± one standard deviation across seeds where a point has several (`<metric>_std`).
    A metric no point has is left out rather than drawn as an empty line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [p.get("teacher_rows") for p in points]
    for key, label in SCALING_METRICS:
        ys = [p.get(key) for p in points]
        if all(y is None for y in ys):
            continue
        errors = [p.get(f"{key}_std") or 0.0 for p in points]
        line = ax.errorbar(xs, [float("nan") if y is None else y for y in ys], yerr=errors if any(errors) else None,
                           marker="o", capsize=3, label=f"distilled {label}")
        if baseline and baseline.get(key) is not None:
            ax.axhline(baseline[key], color=line[0].get_color(), linestyle="--", linewidth=1,
                       label=f"human-only {label}")
    ax.set_xscale("log")
    ax.set_xlabel("teacher-labelled training rows (dashed: human-labels-only student)")
    ax.set_ylabel("test split (human labels)")
    ax.set_title("Student quality vs teacher-labelled rows")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
