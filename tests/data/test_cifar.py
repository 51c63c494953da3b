"""Tests of the CIFAR readers on the real CIFAR-10 batches and on small fake CIFAR-100 files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from labelrobust.data.base import Dataset
from labelrobust.data.cifar import (
    CIFAR10,
    load_cifar10,
    load_cifar100,
    read_cifar_batch,
    read_cifar_names,
)
from labelrobust.errors import DataError


@pytest.fixture(scope="module")
def cifar10(data_root: Path) -> Dataset:
    return load_cifar10(data_root, False)


def test_cifar10_real(cifar10: Dataset, data_root: Path):
    assert cifar10.class_names[:4] == ("airplane", "automobile", "bird", "cat")
    assert cifar10.train.images.shape == (10000, 3, 32, 32) and cifar10.train.images.dtype == torch.uint8
    assert cifar10.test.images.shape == (10000, 3, 32, 32)
    assert cifar10.train.labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert cifar10.test.labels[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert torch.equal(torch.bincount(cifar10.test.labels), torch.full((10,), 1000))
    assert cifar10.report["train_files"] == ["data_batch_1"]
    assert cifar10.mean == (0.4914, 0.4822, 0.4465) and cifar10.has_soft_labels is False
    # channel-major layout: per-channel means close to the published statistics
    means = cifar10.train.float_images().mean(dim=(0, 2, 3))
    assert torch.allclose(means, torch.tensor(cifar10.mean), atol=0.01)


def _write(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=4))
    return path


def test_cifar100_on_fake_files(tmp_path: Path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-100-python"
    names = [f"class{i}" for i in range(100)]
    _write(folder / "meta", {"fine_label_names": names, "coarse_label_names": ["c"] * 20})
    for split, n in (("train", 30), ("test", 10)):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        _write(folder / split, {"data": data, "fine_labels": list(range(n)), "coarse_labels": [0] * n})
    ds = load_cifar100(tmp_path, False)
    assert ds.num_classes == 100 and ds.class_names[7] == "class7"
    assert ds.train.images.shape == (30, 3, 32, 32) and ds.test.labels.tolist() == list(range(10))
    assert ds.std == (0.2673, 0.2564, 0.2762)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ({"labels": [0]}, r"has no 'data' entry"),
        ({"data": np.zeros((2, 3000), np.uint8), "labels": [0, 1]}, r"'data' must be a uint8 array of shape N×3072"),
        ({"data": np.zeros((2, 3072), np.float32), "labels": [0, 1]}, "uint8"),
        ({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}, r"'labels' must be 2 integers"),
        ({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}, r"'labels' at index 1 is 10, expected 0..9"),
        ([1, 2], "expected a pickled dict, found list"),
    ],
)
def test_read_cifar_batch_rejects_malformed(tmp_path: Path, batch, message):
    path = _write(tmp_path / "data_batch_1", batch)
    with pytest.raises(DataError, match=message):
        read_cifar_batch(path, CIFAR10.label_key, CIFAR10.num_classes)


def test_read_cifar_names(data_root: Path, tmp_path: Path):
    assert read_cifar_names(data_root / CIFAR10.folder / CIFAR10.meta_file, "label_names", 10)[-1] == "truck"
    path = _write(tmp_path / "batches.meta", {"label_names": ["a", "b"]})
    with pytest.raises(DataError, match="must be a list of 10 class names"):
        read_cifar_names(path, "label_names", 10)


def test_missing_training_batches(tmp_path: Path, data_root: Path):
    folder = tmp_path / CIFAR10.folder
    folder.mkdir()
    for name in (CIFAR10.meta_file, CIFAR10.test_file):
        (folder / name).symlink_to(data_root / CIFAR10.folder / name)
    with pytest.raises(DataError, match=r"cifar-10-batches-py/data_batch_1 not found under data root .*--download"):
        load_cifar10(tmp_path, False)
