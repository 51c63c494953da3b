"""Heat maps of layered neighbourhoods: ε painted on the layers' pixels, the figure's exact size."""

from __future__ import annotations

import struct

import pytest
import torch

from labelrobust.errors import ConfigError
from labelrobust.verify.heatmaps import HeatPanel, epsilon_map, figure_pixels, heatmap_grid
from labelrobust.verify.input_sets import chebyshev_layers


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _masks(h: int = 12, w: int = 24) -> torch.Tensor:
    masks = torch.zeros(2, h, w, dtype=torch.bool)
    masks[0, 3:9, 2:8] = True  # the target digit
    masks[1, 4:8, 15:20] = True  # the perturbed digit
    return masks


def test_epsilon_map_paints_each_layer_and_fixes_the_rest():
    masks = _masks()
    distance = chebyshev_layers(masks[1])
    painted = epsilon_map(distance, (0.3, 0.2, 0.1))
    for d, e in enumerate((0.3, 0.2, 0.1)):
        assert (painted[distance == d] == e).all()
    assert (painted[distance > 2] == 0).all() and painted.dtype == torch.float64
    with pytest.raises(ConfigError, match="layer map must be H×W"):
        epsilon_map(distance.flatten(), (0.1,))


def test_heatmap_grid_writes_a_png_of_the_expected_size(tmp_path):
    masks = _masks()
    distance = chebyshev_layers(masks[1])
    rows = [[HeatPanel(epsilon_map(distance, (0.05 * (r + 1), 0.02 * c, 0.0)), masks, f"w·ε {r}{c}") for c in range(3)] for r in range(2)]
    path = heatmap_grid(rows, tmp_path / "figs" / "heat.png", column_titles=["none", "l0", "pgd"], row_titles=["sample 0", "sample 1"], title="three defences")
    assert path.is_file() and _png_size(path) == figure_pixels(2, 3, 12, 24)
    assert sorted(p.name for p in path.parent.iterdir()) == ["heat.png"], "no temporary file left behind"
    single = heatmap_grid([[HeatPanel(torch.zeros(12, 24, dtype=torch.float64), masks)]], tmp_path / "zero.png")
    assert _png_size(single) == figure_pixels(1, 1, 12, 24), "an all-zero map still draws (colour scale 0..1)"
    assert figure_pixels(1, 2, 28, 56)[0] > figure_pixels(1, 1, 28, 56)[0]


def test_heatmap_grid_refuses_ragged_or_mixed_panels(tmp_path):
    masks = _masks()
    good = HeatPanel(torch.zeros(12, 24), masks)
    with pytest.raises(ConfigError, match="at least one panel"):
        heatmap_grid([], tmp_path / "x.png")
    with pytest.raises(ConfigError, match="same number of panels"):
        heatmap_grid([[good, good], [good]], tmp_path / "x.png")
    other = HeatPanel(torch.zeros(6, 6), torch.zeros(2, 6, 6, dtype=torch.bool))
    with pytest.raises(ConfigError, match="images of one size"):
        heatmap_grid([[good, other]], tmp_path / "x.png")
    with pytest.raises(ConfigError, match=r"object masks must be O×12×24"):
        HeatPanel(torch.zeros(12, 24), torch.zeros(2, 12, 12, dtype=torch.bool))
    with pytest.raises(ConfigError, match="needs an H×W ε map"):
        HeatPanel(torch.zeros(12), masks)
    assert not (tmp_path / "x.png").exists()
