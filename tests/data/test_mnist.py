"""Tests of the MNIST loader on the shared IDX files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from labelrobust.data.mnist import load_mnist
from labelrobust.errors import DataError


def test_mnist_real(data_root: Path):
    ds = load_mnist(data_root, False)
    assert ds.train.images.shape == (6309, 1, 28, 28) and ds.train.images.dtype == torch.uint8
    assert ds.test.images.shape == (10000, 1, 28, 28)
    assert ds.class_names == tuple("0123456789") and ds.mean == (0.1307,)
    assert ds.test.labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert ds.train.labels[:5].tolist() == [5, 0, 4, 1, 9]


def test_mnist_missing_file(tmp_path: Path):
    with pytest.raises(DataError, match=r"MNIST/raw/train-images-idx3-ubyte not found under data root .*--download"):
        load_mnist(tmp_path, False)


def test_mnist_corrupt_file(tmp_path: Path, data_root: Path):
    raw = tmp_path / "MNIST" / "raw"
    shutil.copytree(data_root / "MNIST" / "raw", raw)
    (raw / "t10k-labels-idx1-ubyte").chmod(0o644)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01garbage")
    with pytest.raises(DataError, match="mnist: torchvision could not read t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path, False)
