"""PNG plots of robustness results (matplotlib, headless).

Honest pictures of what was measured: a marker for every measured (attack, eps), lines only
between neighbouring radii both measured, bars when there is a single radius, and sanity runs
at a fixed radius (the large-eps check) on a panel of their own so they do not squeeze the
real eps range. Every attack gets its own colour *and* marker; the legend sits outside.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from labelrobust.evaluation.checks import NEAR_ZERO
from labelrobust.evaluation.outcomes import Outcome, RobustReport

MARKERS = "osD^vP*Xh<>pd"


def plot_accuracy_vs_eps(report: RobustReport, path: str | Path, title: str = "") -> Path:
    """Robust accuracy against eps, one series per attack plus the worst case over all attacks;
    stale outcomes are not drawn (the footer counts them). An ensemble attack's series is the
    robust accuracy after it (the worst case so far), a diagnostic's its own."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    main = [o for o in report.outcomes if not o.fixed_eps]
    sanity = [o for o in report.outcomes if o.fixed_eps]
    styles = _styles(list(dict.fromkeys(o.label for o in report.outcomes)))
    panels = {"width_ratios": [4, 1]} if sanity else None
    fig, axes = plt.subplots(1, 2 if sanity else 1, figsize=(9 if sanity else 7, 4.5), dpi=120, sharey=True, squeeze=False, gridspec_kw=panels)
    ax = axes[0][0]
    if len({o.eps for o in main}) > 1:
        _curves(ax, report, main, styles)
    else:
        _bars(ax, report, main, styles)
    if sanity:
        _sanity_panel(axes[0][1], sanity, styles)
    ax.set_ylabel("robust accuracy")
    ax.set_ylim(-0.02, 1.08)
    handles, labels = _legend_entries(axes[0])
    if handles:
        fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 0.92), fontsize=7, frameon=False)
    footer = _footer(report)
    fig.suptitle(title, fontsize=9)
    fig.text(0.01, 0.005, footer, fontsize=6, color="0.35")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight", metadata={"Description": footer})
    plt.close(fig)
    return path


def _styles(labels: list[str]) -> dict[str, tuple]:
    """A distinct (colour, marker) per attack: the ten strong tab20 colours first, then their
    light partners, so up to 20 attacks never share a colour (nor neighbours a marker)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    return {label: (cmap((2 * i) % 20 + (2 * i // 20) % 2), MARKERS[i % len(MARKERS)]) for i, label in enumerate(labels)}


def _curves(ax, report: RobustReport, outcomes: list[Outcome], styles: dict) -> None:
    """One series per attack over the grid of measured radii; a radius an attack was not run at
    is a gap (NaN), so no line crosses it."""
    grid = sorted({o.eps for o in outcomes})
    texts = report.eps_texts()
    measured: dict[str, dict[float, float]] = defaultdict(dict)
    for o in outcomes:
        measured[o.label][o.eps] = o.robust_accuracy
    for label, points in measured.items():
        colour, marker = styles[label]
        ax.plot(grid, [points.get(e, math.nan) for e in grid], color=colour, marker=marker, markersize=5, linewidth=1.2, label=label)
    if len(measured) > 1:
        worst = report.worst_case()
        ax.plot(list(worst), list(worst.values()), color="black", linestyle="--", linewidth=2, label="worst case")
    ax.plot([0.0], [report.clean_accuracy], color="black", marker="*", markersize=11, linestyle="none", label="clean (eps 0)")
    ax.set_xticks([0.0, *grid])
    ax.set_xticklabels(["0", *(texts[e] for e in grid)], rotation=45 if len(grid) > 4 else 0, ha="right" if len(grid) > 4 else "center", fontsize=8)
    ax.set_xlabel(f"eps ({report.norm})")
    ax.grid(alpha=0.3)


def _bars(ax, report: RobustReport, outcomes: list[Outcome], styles: dict) -> None:
    """A single radius: one bar per attack between the clean accuracy and the worst case."""
    names = ["clean", *(o.label for o in outcomes)]
    values = [report.clean_accuracy, *(o.robust_accuracy for o in outcomes)]
    colours = ["0.6", *(styles[o.label][0] for o in outcomes)]
    worst = report.worst_case()
    if worst and len(outcomes) > 1:
        names.append("worst case")
        values.append(next(iter(worst.values())))
        colours.append("black")
    bars = ax.bar(range(len(names)), values, color=colours, edgecolor="black", linewidth=0.5)
    ax.bar_label(bars, labels=[f"{100 * v:.1f}%" for v in values], fontsize=7, padding=2)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30 if len(names) > 3 else 0, ha="right" if len(names) > 3 else "center", fontsize=8)
    eps = f"eps {outcomes[0].eps_text} ({report.norm})" if outcomes else "no attack in the eps list"
    ax.set_title(eps, fontsize=9)
    ax.grid(alpha=0.3, axis="y")


def _sanity_panel(ax, outcomes: list[Outcome], styles: dict) -> None:
    """Runs at their own fixed radius (the large-eps check), as points next to the main panel."""
    for i, o in enumerate(outcomes):
        colour, marker = styles[o.label]
        ax.plot([i], [o.robust_accuracy], color=colour, marker=marker, markersize=8, linestyle="none", label=o.label)
    ax.axhline(NEAR_ZERO, color="0.5", linestyle=":", linewidth=1)
    ax.set_xticks(range(len(outcomes)))
    ax.set_xticklabels([f"eps {o.eps_text}" for o in outcomes], fontsize=8)
    ax.set_xlim(-0.6, len(outcomes) - 0.4)
    ax.set_title(f"sanity runs\n(expected ≤ {NEAR_ZERO:.0%})", fontsize=8)
    ax.grid(alpha=0.3, axis="y")


def _legend_entries(axes) -> tuple[list, list[str]]:
    handles, labels = [], []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    return handles, labels


def _footer(report: RobustReport) -> str:
    """What the figure describes: the weights (file and SHA-256) and the samples."""
    weights = report.model
    text = f"weights: {weights.get('weights', '')} sha256 {weights['sha256'][:12]}" if weights.get("sha256") else "weights: not recorded"
    text += f" · {len(report.labels)} test samples"
    if report.target is not None:
        text += f" (target class {report.target} left out)"
    if report.stale:
        text += f" · {len(report.stale)} stale result(s) of other weights/samples not shown"
    return text
