"""Heat maps of maximal robust layered neighbourhoods (methods.md §5, the study's figures).

Each panel paints ε over the image: every pixel of layer d (Chebyshev distance d from the
perturbed object) shows ε_d, pixels beyond the last layer (fixed by the neighbourhood) show
0. The outlines of both objects are drawn on top (the target digit solid, the perturbed digit
dashed), so one sees how far the robust radius reaches around the digit the attacker owns.
All panels of a figure share one colour scale and one colour bar (0 … the largest ε drawn).

A figure is a grid: ``heatmap_grid(panels)`` with ``panels[row][col]``; the CLI draws one row
per image and one column per run (the three defences side by side) or per method. The
layout is fixed in inches (no tight bounding box), so a figure of R rows and C columns of
H×W images is exactly ``figure_pixels(R, C, H, W)`` pixels. PNGs are written atomically
(matplotlib's Agg backend, no display).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from labelrobust.atomic import atomic_write_bytes
from labelrobust.errors import ConfigError

DPI = 100
PANEL_HEIGHT = 1.6
"""Inches of one image panel's height; its width follows the image's aspect ratio."""
LEFT, RIGHT, TOP, BOTTOM, GAP = 1.2, 1.0, 0.6, 0.15, 0.15
"""Margins (row labels; colour bar; column titles and the figure title) and the gap
between panels, in inches."""
OUTLINES = (("cyan", "solid", "target digit"), ("red", "dashed", "perturbed digit"))
"""Outline colour, line style and legend text for object 0 (the target) and object 1."""


def epsilon_map(distance: Tensor, eps: Sequence[float]) -> Tensor:
    """H×W float64: ε_d on the pixels at Chebyshev distance d ≤ r, 0 beyond."""
    if distance.ndim != 2:
        raise ConfigError(f"the layer map must be H×W, got shape {tuple(distance.shape)}")
    out = torch.zeros(distance.shape, dtype=torch.float64)
    for d, e in enumerate(eps):
        out[distance == d] = float(e)
    return out


@dataclass
class HeatPanel:
    """One panel: the ε map (H×W), the objects' masks (O×H×W bool; object 0 the target,
    object 1 the perturbed one) and a caption under the column title."""

    eps_map: Tensor
    masks: Tensor
    caption: str = ""

    def __post_init__(self) -> None:
        if self.eps_map.ndim != 2:
            raise ConfigError(f"a heat-map panel needs an H×W ε map, got shape {tuple(self.eps_map.shape)}")
        if self.masks.ndim != 3 or tuple(self.masks.shape[1:]) != tuple(self.eps_map.shape):
            raise ConfigError(f"object masks must be O×{self.eps_map.shape[0]}×{self.eps_map.shape[1]}, got shape {tuple(self.masks.shape)}")


def _panel_inches(height: int, width: int) -> tuple[float, float]:
    return PANEL_HEIGHT * width / height, PANEL_HEIGHT


def figure_inches(rows: int, cols: int, height: int, width: int) -> tuple[float, float]:
    """The figure's (width, height) in inches for ``rows``×``cols`` panels of H×W images."""
    pw, ph = _panel_inches(height, width)
    return LEFT + cols * pw + (cols - 1) * GAP + RIGHT, TOP + rows * ph + (rows - 1) * GAP + BOTTOM


def figure_pixels(rows: int, cols: int, height: int, width: int) -> tuple[int, int]:
    """The PNG's (width, height) in pixels (``figure_inches`` at ``DPI``)."""
    w, h = figure_inches(rows, cols, height, width)
    return int(round(w * DPI)), int(round(h * DPI))


def heatmap_grid(panels: Sequence[Sequence[HeatPanel]], path: str | Path, *, column_titles: Sequence[str] = (), row_titles: Sequence[str] = (), title: str = "") -> Path:
    """Write the grid ``panels[row][col]`` (every row the same length, every image the same
    size) as a PNG at ``path``, atomically; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols, height, width = _grid_shape(panels)
    vmax = max(max(float(p.eps_map.max()) for p in row) for row in panels)
    fig = plt.figure(figsize=figure_inches(rows, cols, height, width), dpi=DPI)
    image = None
    for r, row in enumerate(panels):
        for c, panel in enumerate(row):
            ax = fig.add_axes(_axes_box(fig, r, c, height, width))
            image = _draw(ax, panel, vmax if vmax > 0 else 1.0)
            if r == 0 and c < len(column_titles):
                ax.set_title(column_titles[c], fontsize=8)
            if c == 0 and r < len(row_titles):
                ax.set_ylabel(row_titles[r], fontsize=7)
    _colour_bar(fig, image, rows, height, width, cols)
    _legend(fig)
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 0.15 / figure_inches(rows, cols, height, width)[1])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Description": title})
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def _grid_shape(panels: Sequence[Sequence[HeatPanel]]) -> tuple[int, int, int, int]:
    if not panels or not panels[0]:
        raise ConfigError("a heat-map figure needs at least one panel")
    cols = len(panels[0])
    if any(len(row) != cols for row in panels):
        raise ConfigError("every row of a heat-map figure needs the same number of panels")
    shapes = {tuple(p.eps_map.shape) for row in panels for p in row}
    if len(shapes) != 1:
        raise ConfigError(f"the panels of one heat-map figure must show images of one size, got {sorted(shapes)}")
    height, width = shapes.pop()
    return len(panels), cols, height, width


def _axes_box(fig, r: int, c: int, height: int, width: int) -> tuple[float, float, float, float]:
    """[left, bottom, width, height] of panel (r, c) as fractions of the figure."""
    fw, fh = fig.get_size_inches()
    pw, ph = _panel_inches(height, width)
    left = LEFT + c * (pw + GAP)
    bottom = fh - TOP - (r + 1) * ph - r * GAP
    return left / fw, bottom / fh, pw / fw, ph / fh


def _draw(ax, panel: HeatPanel, vmax: float):
    image = ax.imshow(panel.eps_map.numpy(), cmap="viridis", vmin=0.0, vmax=vmax, interpolation="nearest")
    for o, (colour, style, _) in enumerate(OUTLINES[: panel.masks.shape[0]]):
        mask = panel.masks[o].to(torch.float64)
        if 0 < float(mask.sum()) < mask.numel():
            ax.contour(mask.numpy(), levels=[0.5], colors=colour, linestyles=style, linewidths=0.9)
    ax.set_xticks([])
    ax.set_yticks([])
    if panel.caption:
        ax.text(0.02, 0.03, panel.caption, transform=ax.transAxes, fontsize=6, color="white", va="bottom")
    return image


def _colour_bar(fig, image, rows: int, height: int, width: int, cols: int) -> None:
    fw, fh = fig.get_size_inches()
    pw, ph = _panel_inches(height, width)
    left = LEFT + cols * pw + (cols - 1) * GAP + 0.15
    grid_height = rows * ph + (rows - 1) * GAP
    ax = fig.add_axes([left / fw, BOTTOM / fh, 0.12 / fw, grid_height / fh])
    bar = fig.colorbar(image, cax=ax)
    bar.set_label("ε (per layer)", fontsize=7)
    bar.ax.tick_params(labelsize=6)


def _legend(fig) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colour, linestyle=style, label=text) for colour, style, text in OUTLINES]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 1.0), fontsize=6, frameon=False)
