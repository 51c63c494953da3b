"""What every analysis writes, and how: the output folder guard, tables (CSV, markdown, JSON)
and figures (headless matplotlib, labelled heat maps), all written atomically.

An output folder is created when missing. One that already holds any file is refused unless
``force`` is given, which overwrites the files the analysis writes and leaves other files as
they are. The check runs before any work, so a bad folder fails at once.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labelrobust.atomic import atomic_write_bytes, atomic_write_text, require_writable_dir
from labelrobust.errors import OutputError

MAX_TICK_LABELS = 20
"""Heat maps of more classes than this drop their tick labels (they would overlap)."""


def prepare_out_dir(out_dir: str | Path, force: bool = False) -> Path:
    """``out_dir``, created and writable; a folder that already holds files is refused unless
    ``force`` (one-line ``OutputError``)."""
    folder = Path(out_dir)
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise OutputError(f"output folder {folder} already holds results; pass --force to overwrite them, or give another --out")
    return require_writable_dir(folder, "output folder")


def csv_text(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """Rows as CSV text; floats keep full precision, NaN is written as ``nan``."""
    columns = list(columns or dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in columns})
    return out.getvalue()


def _csv_value(value: object) -> object:
    if isinstance(value, float):
        return repr(value)
    return "" if value is None else value


def matrix_csv_text(matrix: np.ndarray, names: Sequence[str], columns: Sequence[str] | None = None, corner: str = "true \\ predicted") -> str:
    """A labelled matrix: a header of column names (default: the class names), then one row
    per class led by its name."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([corner, *(names if columns is None else columns)])
    for name, row in zip(names, np.asarray(matrix, dtype=float)):
        writer.writerow([name, *(repr(float(v)) for v in row)])
    return out.getvalue()


def markdown_table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured markdown table; floats with 4 significant decimals."""
    columns = list(columns or dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.3g}" if value and abs(value) < 1e-3 else f"{value:.4f}"
    return "" if value is None else str(value).replace("|", "\\|")


def write_text(path: Path, text: str) -> Path:
    atomic_write_text(path, text)
    return path


def write_json(path: Path, data: dict) -> Path:
    """JSON with NaN written as null (strict JSON has no NaN)."""
    atomic_write_text(path, json.dumps(_no_nan(data), indent=1) + "\n")
    return path


def _no_nan(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_nan(v) for v in value]
    return value


def pyplot():
    """matplotlib's pyplot on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, description: str = "") -> Path:
    """Render ``fig`` as PNG and write it atomically; the figure is closed."""
    plt = pyplot()
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", bbox_inches="tight", metadata={"Description": description})
    finally:
        plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def heatmap(ax, matrix: np.ndarray, names: Sequence[str], title: str, *, cmap: str = "viridis", colorbar_label: str = "") -> None:
    """A K×K heat map on ``ax`` with class-name tick labels (none for K > ``MAX_TICK_LABELS``);
    rows are the first index (true class), columns the second. NaN cells are left blank."""
    values = np.ma.masked_invalid(np.asarray(matrix, dtype=float))
    image = ax.imshow(values, cmap=cmap, interpolation="nearest")
    cbar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if colorbar_label:
        cbar.set_label(colorbar_label, fontsize=8)
    k = len(names)
    if k <= MAX_TICK_LABELS:
        ax.set_xticks(range(k))
        ax.set_yticks(range(k))
        ax.set_xticklabels(names, rotation=90, fontsize=7)
        ax.set_yticklabels(names, fontsize=7)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_title(title, fontsize=9)

