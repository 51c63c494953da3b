"""PNG plots of robustness results (matplotlib, headless)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from labelrobust.metrics.robust_eval import RobustReport


def plot_accuracy_vs_eps(report: RobustReport, path: str | Path, title: str = "") -> Path:
    """Robust accuracy against eps, one line per attack plus the worst case over all attacks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for o in report.outcomes:
        curves[o.label].append((o.eps, o.robust_accuracy))
    worst = report.worst_case()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for label, points in sorted(curves.items()):
        points.sort()
        ax.plot([0.0] + [p[0] for p in points], [report.clean_accuracy] + [p[1] for p in points], marker="o", label=label)
    if worst:
        ax.plot([0.0, *worst], [report.clean_accuracy, *worst.values()], "k--", linewidth=2, label="worst case")
    ax.set_xlabel(f"eps ({report.norm})")
    ax.set_ylabel("robust accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
