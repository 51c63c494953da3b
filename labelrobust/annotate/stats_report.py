"""A campaign's statistics as text and files: markdown for the terminal, CSV + PNG + markdown
for ``labelrobust annotate stats --out DIR``, and heat-map cells for the stats page."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from labelrobust.analysis.figures import heatmap, markdown_table, matrix_csv_text, prepare_out_dir, pyplot, save_figure, write_text
from labelrobust.annotate.stats import CampaignStats


def _number(value: float, digits: int = 2) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def matrix_rows(stats: CampaignStats) -> list[dict]:
    """One row per true class: the mean rating of every class, 2 decimals."""
    return [{"true class": name, **{c: _number(v) for c, v in zip(stats.class_names, row)}}
            for name, row in zip(stats.class_names, stats.matrix)]


def stats_markdown(stats: CampaignStats) -> str:
    """The whole report as markdown (also what the command line prints)."""
    parts = [
        f"# Campaign {stats.campaign}\n",
        f"{stats.answers} answers of {stats.images} images ({stats.images_rated_twice} rated by two or more participants); "
        f"{stats.all_zero_answers} answers all zero, {stats.below_three_nonzero} with fewer than 3 non-zero classes.\n",
        "## Mean rating per true class (row: true class, column: rated class)\n",
        markdown_table(matrix_rows(stats)) if np.isfinite(stats.matrix).any() else "No true classes are known for these images.\n",
        "## Mean rating per class, all answers\n",
        markdown_table([{c: _number(v) for c, v in zip(stats.class_names, stats.mean_ratings)}]),
        "## Answers per participant\n",
        markdown_table([{"participant": n, "answers": c} for n, c in stats.per_annotator] or [{"participant": "–", "answers": 0}]),
        f"Median time between a participant's answers: {_number(stats.median_seconds, 1)} s.\n",
        "## Answers per hour (UTC)\n",
        markdown_table([{"hour": h, "answers": c} for h, c in stats.per_hour] or [{"hour": "–", "answers": 0}]),
        "## Agreement between participants\n",
        markdown_table([
            {"measure": "mean pairwise Jensen–Shannon divergence (bits; 0 = same)", "value": _number(stats.jensen_shannon, 3), "over": f"{stats.jensen_shannon_pairs} pairs"},
            {"measure": "Krippendorff's alpha, ordinal (1 = perfect, 0 = chance)", "value": _number(stats.alpha, 3), "over": f"{stats.alpha_units} (image, class) units"},
        ]),
    ]
    return "\n".join(parts)


def write_stats_report(stats: CampaignStats, out: str | Path, *, force: bool = False) -> list[Path]:
    """``rating-matrix.csv`` (header of class names), ``rating-matrix.png``, ``stats.md`` in ``out``."""
    folder = prepare_out_dir(out, force)
    paths = [
        write_text(folder / "rating-matrix.csv", matrix_csv_text(stats.matrix, stats.class_names, corner="true \\ rated")),
        write_text(folder / "stats.md", stats_markdown(stats)),
    ]
    plt = pyplot()
    k = len(stats.class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * k, 0.6 + 0.6 * k))
    heatmap(ax, stats.matrix, stats.class_names, f"{stats.campaign}: mean rating per true class", colorbar_label="mean rating")
    if k <= 20:
        for (t, c), v in np.ndenumerate(stats.matrix):
            if math.isfinite(v):
                ax.text(c, t, f"{v:.2f}", ha="center", va="center", fontsize=6, color="white" if v < np.nanmax(stats.matrix) / 2 else "black")
    ax.set_xlabel("rated class")
    ax.set_ylabel("true class")
    paths.append(save_figure(fig, folder / "rating-matrix.png", "mean rating per true class"))
    return paths


def heat_colour(value: float, top: float) -> str:
    """A CSS colour for a cell of the stats page: white (0) to dark blue (``top``); grey for NaN."""
    if not math.isfinite(value):
        return "#eeeeee"
    share = min(max(value / top, 0.0), 1.0) if top > 0 else 0.0
    start, end = np.array([255, 255, 255]), np.array([8, 48, 107])
    r, g, b = (start + share * (end - start)).round().astype(int)
    return f"#{r:02x}{g:02x}{b:02x}"
