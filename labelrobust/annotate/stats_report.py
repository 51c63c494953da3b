"""A campaign's statistics as text and files: markdown for the terminal, CSV + PNG + markdown
for ``labelrobust annotate stats --out DIR``, and heat-map cells for the stats page.

The PNG and the page colour a cell the same way: linearly from white (rating 0) to dark blue
(``max_rating``), grey where there is no value. The output folder is guarded and every file is
written atomically by the analyses' helpers (``labelrobust.analysis.figures``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from labelrobust.analysis.figures import MAX_TICK_LABELS, heatmap, markdown_table, matrix_csv_text, prepare_out_dir, pyplot, save_figure, write_text
from labelrobust.annotate.stats import CampaignStats
from labelrobust.errors import DataError

LOW, HIGH = (255, 255, 255), (8, 48, 107)
"""The colours of rating 0 and of the top rating (RGB)."""
MISSING = "#eeeeee"
"""The colour of a cell without a value (a class without answers)."""
FILES = ("rating-matrix.csv", "stats.md", "rating-matrix.png")


def _number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


# -- the heat map on the stats page ------------------------------------------------------------


def _share(value: float, top: float) -> float:
    return min(max(value / top, 0.0), 1.0)


def heat_colour(value: float, top: float) -> str:
    """A CSS colour (``#rrggbb``) for ``value`` on a 0..``top`` scale: white (0) to dark blue
    (``top`` and above), ``MISSING`` for NaN."""
    if isinstance(top, bool) or not isinstance(top, (int, float, np.integer, np.floating)) or not math.isfinite(top) or top <= 0:
        raise DataError(f"heat_colour: top of the scale must be a number > 0, got {top!r}")
    if not math.isfinite(value):
        return MISSING
    share = _share(value, top)
    r, g, b = (round(lo + share * (hi - lo)) for lo, hi in zip(LOW, HIGH))
    return f"#{r:02x}{g:02x}{b:02x}"


class HeatCell(NamedTuple):
    """One cell of the page's heat map: unpacks as ``value, colour``."""

    value: float
    colour: str  # the background, ``#rrggbb``

    @property
    def dark(self) -> bool:
        """The background is dark enough for white text (perceived brightness, ITU-R BT.601
        weights, below 0.55: from about 55 % of the scale on)."""
        r, g, b = (int(self.colour[i:i + 2], 16) for i in (1, 3, 5))
        return (0.299 * r + 0.587 * g + 0.114 * b) / 255 < 0.55

    @property
    def label(self) -> str:
        """The value with 2 decimals, ``–`` for NaN."""
        return _number(self.value)


def matrix_cells(matrix, top: float) -> list[list[HeatCell]]:
    """The rows of ``matrix`` as ``HeatCell`` rows coloured on a 0..``top`` scale (``top`` =
    the campaign's max_rating), for an HTML table that shows the same heat map as the PNG."""
    values = np.asarray(matrix, dtype=np.float64)
    if values.ndim != 2:
        raise DataError(f"matrix_cells: matrix must be 2-D (true class × rated class), got shape {values.shape}")
    return [[HeatCell(float(v), heat_colour(float(v), top)) for v in row] for row in values]


# -- markdown -----------------------------------------------------------------------------------


def matrix_rows(stats: CampaignStats) -> list[dict]:
    """One row per true class: the mean rating of every class, 2 decimals."""
    return [{"true \\ rated": name, **{c: _number(v) for c, v in zip(stats.class_names, row)}}
            for name, row in zip(stats.class_names, stats.matrix)]


def stats_markdown(stats: CampaignStats) -> str:
    """The whole report as markdown (also what the command line prints)."""
    pace = stats.answers_per_hour_at_median_pace
    parts = [
        f"# Campaign {stats.campaign}\n" if stats.campaign else "# Campaign statistics\n",
        f"{stats.answers} answers of {stats.images} images ({stats.images_rated_twice} answered by two or more participants); "
        f"{stats.all_zero_answers} answers all zero, {stats.below_min_nonzero} with fewer than {stats.min_nonzero} non-zero classes.\n",
        f"## Mean rating (0–{stats.max_rating}) per true class (row: true class, column: rated class)\n",
        markdown_table(matrix_rows(stats)) if np.isfinite(stats.matrix).any() else "No answers of images with a known true class.\n",
        "## Mean rating per class, all answers\n",
        markdown_table([{c: _number(v) for c, v in zip(stats.class_names, stats.mean_ratings)}]),
        "## Answers per participant\n",
        markdown_table([{"participant": n, "answers": c} for n, c in stats.per_annotator] or [{"participant": "–", "answers": 0}]),
        f"Median time between a participant's consecutive answers: {_number(stats.median_seconds, 1)} s"
        + (f" (about {pace:.0f} answers an hour).\n" if math.isfinite(pace) else ".\n"),
        "## Answers per hour (UTC)\n",
        markdown_table([{"hour": h, "answers": c} for h, c in stats.per_hour] or [{"hour": "–", "answers": 0}]),
        "## Agreement between participants\n",
        markdown_table([
            {"measure": "mean pairwise Jensen–Shannon divergence (bits; 0 = same, 1 = disjoint)", "value": _number(stats.jensen_shannon, 3),
             "over": f"{stats.jensen_shannon_pairs} pairs of answers"},
            {"measure": "Krippendorff's alpha, ordinal (1 = perfect, 0 = chance)", "value": _number(stats.alpha, 3),
             "over": f"{stats.alpha_units} (image, class) units"},
        ]),
    ]
    return "\n".join(parts)


# -- files --------------------------------------------------------------------------------------


def rating_matrix_figure(stats: CampaignStats):
    """The rating matrix as a matplotlib heat map: class names on both axes, the values in the
    cells (up to ``MAX_TICK_LABELS`` classes), colours on the fixed 0..max_rating scale."""
    from matplotlib.colors import LinearSegmentedColormap

    plt = pyplot()
    k = len(stats.class_names)
    cmap = LinearSegmentedColormap.from_list("rating", [np.array(LOW) / 255, np.array(HIGH) / 255]).with_extremes(bad=MISSING)
    fig, ax = plt.subplots(figsize=(1.5 + 0.6 * k, 1.0 + 0.6 * k))
    title = f"{stats.campaign}: mean rating per true class" if stats.campaign else "mean rating per true class"
    heatmap(ax, stats.matrix, stats.class_names, title, cmap=cmap, colorbar_label=f"mean rating (0–{stats.max_rating})")
    ax.images[0].set_clim(0, stats.max_rating)  # the scale of the page, not the data's range
    if k <= MAX_TICK_LABELS:
        for row, cells in enumerate(matrix_cells(stats.matrix, stats.max_rating)):
            for col, cell in enumerate(cells):
                ax.text(col, row, cell.label, ha="center", va="center", fontsize=6, color="white" if cell.dark else "black")
    ax.set_xlabel("rated class")
    ax.set_ylabel("true class")
    return fig


def write_stats_report(stats: CampaignStats, out: str | Path, *, force: bool = False) -> list[Path]:
    """Write ``rating-matrix.csv`` (a header of class names, the true class first in each row;
    full precision, ``nan`` for a class without answers), ``stats.md`` (``stats_markdown``) and
    ``rating-matrix.png`` (``rating_matrix_figure``) into ``out``; returns their paths.

    A folder that already holds files is refused unless ``force`` (``OutputError``, checked
    before anything is written); each file is replaced atomically.
    """
    folder = prepare_out_dir(out, force)
    csv_text = matrix_csv_text(stats.matrix, stats.class_names, corner="true \\ rated")
    markdown = stats_markdown(stats)
    fig = rating_matrix_figure(stats)
    try:
        paths = [write_text(folder / FILES[0], csv_text), write_text(folder / FILES[1], markdown)]
    except BaseException:
        pyplot().close(fig)
        raise
    return [*paths, save_figure(fig, folder / FILES[2], "mean rating per true class")]
