"""The input domain (``labelrobust.domain.Box``) by hand: its diameters, clipping, the input
check every attack runs, and the affine map to the unit box the published packages see."""

from __future__ import annotations

import math

import pytest
import torch

from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import ConfigError


def test_unit_box_is_the_image_domain():
    assert UNIT_BOX == Box() == Box(0, 1) and UNIT_BOX.width == 1.0 and str(UNIT_BOX) == "[0, 1]"
    assert UNIT_BOX.as_dict() == {"low": 0.0, "high": 1.0} and Box(**UNIT_BOX.as_dict()) == UNIT_BOX


@pytest.mark.parametrize(
    ("box", "norm", "shape", "diameter"),
    [
        (UNIT_BOX, "linf", (1, 8, 8), 1.0),
        (UNIT_BOX, "l2", (1, 8, 8), 8.0),
        (UNIT_BOX, "l2", (3, 32, 32), math.sqrt(3 * 32 * 32)),
        (Box(-1, 1), "linf", (2,), 2.0),
        (Box(-1, 1), "l2", (2,), 2 * math.sqrt(2)),
        (Box(-2.5, 2.5), "l2", (2,), 5 * math.sqrt(2)),
    ],
)
def test_diameter(box, norm, shape, diameter):
    assert box.diameter(norm, shape) == pytest.approx(diameter)


def test_check_refuses_values_outside_and_non_finite_values():
    box = Box(-1, 1)
    box.check(torch.tensor([[-1.0, 1.0], [0.0, 0.5]]))
    box.check(torch.empty(0, 2))  # nothing to check
    with pytest.raises(ConfigError, match=r"inputs must lie in the input domain \[-1, 1\], got values in \[-1\.5, 1\]"):
        box.check(torch.tensor([[-1.5, 1.0]]))
    with pytest.raises(ConfigError, match=r"x must lie in the input domain \[0, 1\] \(pixel space; normalisation belongs inside the model\)"):
        UNIT_BOX.check(torch.tensor([[-0.1, 0.5]]), "x")
    with pytest.raises(ConfigError, match="contain NaN or inf values"):
        box.check(torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(ConfigError, match="contain NaN or inf values"):
        box.check(torch.tensor([[float("inf"), 0.0]]))


def test_clip_and_unit_coordinates():
    box = Box(-1, 3)
    x = torch.tensor([[-2.0, 0.0, 5.0]])
    assert torch.equal(box.clip(x.clone()), torch.tensor([[-1.0, 0.0, 3.0]]))
    inside = torch.tensor([[-1.0, 1.0, 3.0]])
    assert torch.equal(box.to_unit(inside), torch.tensor([[0.0, 0.5, 1.0]]))
    assert torch.equal(box.from_unit(box.to_unit(inside)), inside)
    # the map scales every distance by 1/width, so a radius does too
    assert box.to_unit_eps(0.4) == pytest.approx(0.1) and UNIT_BOX.to_unit_eps(0.3) == 0.3
    a, b = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.6, -0.8]])
    assert (box.to_unit(a) - box.to_unit(b)).norm().item() == pytest.approx(box.to_unit_eps((a - b).norm().item()))
    assert box.middle() == 1.0


@pytest.mark.parametrize(
    ("low", "high", "message"),
    [
        (1, 1, r"needs low < high, got \[1, 1\]"),
        (2, -2, r"needs low < high"),
        (float("nan"), 1, "low must be a finite number"),
        (0, float("inf"), "high must be a finite number"),
        (True, 2, "low must be a finite number, got True"),
        ("0", 1, "low must be a finite number, got '0'"),
    ],
)
def test_bad_boxes(low, high, message):
    with pytest.raises(ConfigError, match=message):
        Box(low, high)


def test_diameter_of_an_unknown_norm():
    with pytest.raises(ConfigError, match="unknown norm 'l1'"):
        UNIT_BOX.diameter("l1", (2,))
