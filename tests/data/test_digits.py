"""Tests of scikit-learn's digits as the Quick start's data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from labelrobust.data import load_dataset
from labelrobust.data.digits import MEAN, STD, load_digits
from labelrobust.errors import ConfigError


def test_digits_split_and_range():
    ds = load_digits(Path("unused"), False)
    assert ds.train.images.shape == (1438, 1, 8, 8) and ds.test.images.shape == (359, 1, 8, 8)
    assert ds.train.images.dtype == torch.float32
    assert float(ds.train.images.min()) == 0.0 and float(ds.train.images.max()) == 1.0
    assert not set(ds.train.source_index.tolist()) & set(ds.test.source_index.tolist())
    counts = torch.bincount(ds.test.labels, minlength=10)
    assert int(counts.min()) >= 35 and int(counts.max()) <= 37
    # the split does not depend on the run seed or the global RNG
    torch.manual_seed(99)
    assert torch.equal(load_digits(Path("x"), False).test.source_index, ds.test.source_index)


def test_digits_hard_coded_statistics():
    x = load_digits(Path("."), False).train.images.double()
    assert abs(x.mean().item() - MEAN[0]) < 1e-4
    assert abs(x.std(unbiased=False).item() - STD[0]) < 1e-4


def test_digits_train_size_too_large():
    with pytest.raises(ConfigError, match="train_size 5000 is larger than the split, which has 1438 samples"):
        load_dataset("digits", train_size=5000)
