"""Tests of the WPGD study's 3-class 2-D toy data (``toy3``)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from labelrobust.data import dataset_options, load_dataset
from labelrobust.data.toy3 import DOMAIN, in_support, load_toy3, sector_labels
from labelrobust.domain import Box
from labelrobust.errors import ConfigError


def test_toy3_is_seeded():
    a = load_toy3(Path("unused"), False, n_train=30, n_test=12, seed=3)
    b = load_toy3(Path("unused"), False, n_train=30, n_test=12, seed=3)
    c = load_toy3(Path("unused"), False, n_train=30, n_test=12, seed=4)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.test.labels, b.test.labels)
    assert not torch.equal(a.train.images, c.train.images)


def test_toy3_shapes_names_and_domain():
    ds = load_toy3(Path("."), False, n_train=90, n_test=33, noise=0.2, seed=0)
    assert ds.train.images.shape == (90, 2) and ds.test.images.shape == (33, 2)
    assert ds.train.images.dtype == torch.float32 and ds.train.labels.dtype == torch.int64
    assert ds.input_shape == (2,) and ds.class_names == ("a", "b", "c") and ds.num_classes == 3
    assert ds.domain == DOMAIN == Box(-1.2, 1.2)
    for split in (ds.train, ds.test):  # even the largest noise is clamped into the box
        assert float(split.images.min()) >= -1.2 and float(split.images.max()) <= 1.2


@pytest.mark.parametrize("n", [600, 601, 7])
def test_toy3_classes_are_balanced(n):
    counts = torch.bincount(load_toy3(Path("."), False, n_train=n, n_test=3).train.labels, minlength=3)
    assert int(counts.max() - counts.min()) <= 1 and int(counts.sum()) == n


def test_toy3_geometry_without_noise():
    ds = load_toy3(Path("."), False, n_train=3000, n_test=3, noise=0.0, twist=2.0)
    x = ds.train.images.double()
    assert bool(in_support(x).all())  # the clean points fill the unit disk
    assert float((x.norm(dim=1) < 1 / math.sqrt(2)).double().mean()) == pytest.approx(0.5, abs=0.04)  # uniform in area
    assert float((sector_labels(x, 2.0) == ds.train.labels).double().mean()) > 0.998  # float32 rounding at the edges only


def test_toy3_noise_blurs_the_edges():
    ds = load_toy3(Path("."), False, n_train=3000, n_test=3, noise=0.05)
    agree = float((sector_labels(ds.train.images.double(), 2.0) == ds.train.labels).double().mean())
    assert 0.85 < agree < 0.99


def test_toy3_is_registered_with_its_options():
    assert dataset_options("toy3") == {"n_train": 600, "n_test": 600, "noise": 0.03, "twist": 2.0, "seed": 0, "soft_labels": None}
    ds = load_dataset("toy3", options={"n_train": 30, "n_test": 9}, val_size=6)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (24, 6, 9)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_train": 2}, r"toy3 option n_train must be an integer ≥ 3 \(one point per class\), got 2"),
        ({"n_test": True}, "toy3 option n_test must be an integer ≥ 3"),
        ({"n_train": 10.0}, "toy3 option n_train must be an integer"),
        ({"noise": -0.1}, r"toy3 option noise must be a number in \[0, 0.2\], got -0.1"),
        ({"noise": 0.5}, r"toy3 option noise must be a number in \[0, 0.2\]"),
        ({"twist": float("nan")}, "toy3 option twist must be a number in"),
        ({"twist": "2"}, "toy3 option twist must be a number in"),
        ({"seed": -1}, "toy3 option seed must be a non-negative integer, got -1"),
    ],
)
def test_toy3_bad_options_are_one_line_errors(options, message):
    with pytest.raises(ConfigError, match=message) as err:
        load_dataset("toy3", options=options)
    assert "\n" not in str(err.value)
