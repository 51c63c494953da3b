"""Tests of the synthetic disk data."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from labelrobust.data.disk2d import centre_probability, load_disk2d
from labelrobust.errors import ConfigError


def test_disk2d_points_and_labels():
    ds = load_disk2d(Path("unused"), False, radius=2.0, n_train=4000, n_test=500, seed=1)
    x = ds.train.images
    assert x.shape == (4000, 2) and x.dtype == torch.float32 and ds.input_shape == (2,)
    assert float(x.norm(dim=1).max()) <= 2.0 + 1e-6
    # uniform in area: half the points within R/√2, coordinate std R/2
    assert abs(float((x.norm(dim=1) < 2.0 / math.sqrt(2)).float().mean()) - 0.5) < 0.03
    assert torch.allclose(x.std(dim=0), torch.tensor(ds.std), atol=0.05)
    p = ds.train.soft_labels[:, 0]
    assert torch.allclose(ds.train.soft_labels.sum(1), torch.ones(4000))
    assert torch.equal(ds.train.labels, (p < 0.5).long())
    assert ds.class_names == ("centre", "rim") and ds.mean == (0.0, 0.0) and ds.std == (1.0, 1.0)


def test_centre_probability_formula():
    points = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.5]])
    p = centre_probability(points, 1.0)
    assert torch.allclose(p, torch.tensor([1.0, 0.0, (math.exp(0.5) - 1) / (math.e - 1)]))
    boundary = 1 - math.log((math.e + 1) / 2)
    assert abs(float(centre_probability(torch.tensor([[boundary, 0.0]]), 1.0)) - 0.5) < 1e-6


def test_disk2d_seeded():
    a = load_disk2d(Path("."), False, n_train=10, n_test=5, seed=3)
    b = load_disk2d(Path("."), False, n_train=10, n_test=5, seed=3)
    c = load_disk2d(Path("."), False, n_train=10, n_test=5, seed=4)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.test.images, b.test.images)
    assert not torch.equal(a.train.images, c.train.images)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"radius": 0.0}, "radius must be a positive finite number, got 0.0"),
        ({"radius": float("inf")}, "radius must be a positive finite number"),
        ({"n_train": 0}, "n_train must be a positive integer, got 0"),
        ({"n_test": 2.5}, "n_test must be a positive integer"),
        ({"seed": -1}, "seed must be a non-negative integer"),
    ],
)
def test_disk2d_bad_options(options, message):
    with pytest.raises(ConfigError, match=message):
        load_disk2d(Path("."), False, **options)
