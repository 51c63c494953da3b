"""Tests of the registry front end: data root resolution, options and the cutting order."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from labelrobust.data import (
    DATA_ROOT_ENV,
    DATASETS,
    available_datasets,
    dataset_options,
    load_dataset,
    resolve_data_root,
)
from labelrobust.errors import ConfigError, DataError

EXPECTED = ["cifar10", "cifar100", "cifar10h", "digits", "disk2d", "mnist", "softcifar10", "tiny-imagenet"]


def test_available_datasets():
    assert available_datasets() == EXPECTED
    assert all(name in DATASETS for name in EXPECTED)


def test_resolve_data_root_precedence(monkeypatch, tmp_path: Path):
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    assert resolve_data_root(None) == Path("data")
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "env"))
    assert resolve_data_root(None) == tmp_path / "env"
    assert resolve_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_root(str(tmp_path)) == tmp_path


def test_resolve_data_root_from_env_reaches_loader(monkeypatch, data_root: Path):
    monkeypatch.setenv(DATA_ROOT_ENV, str(data_root))
    assert len(load_dataset("cifar10h").test) == 1000


def test_unknown_dataset_lists_known():
    with pytest.raises(ConfigError, match=r"unknown dataset 'imagenet'; known: cifar10, cifar100"):
        load_dataset("imagenet")


def test_options_are_passed_and_checked():
    assert dataset_options("disk2d") == {"radius": 1.0, "n_train": 2000, "n_test": 1000, "seed": 0}
    ds = load_dataset("disk2d", options={"radius": 2.0, "n_train": 50, "n_test": 20})
    assert len(ds.train) == 50 and ds.std == (1.0, 1.0)
    with pytest.raises(ConfigError, match=r"unknown option 'radious' for dataset 'disk2d'; accepted options: radius=1.0, n_train=2000"):
        load_dataset("disk2d", options={"radious": 2.0})
    with pytest.raises(ConfigError, match=r"unknown option 'on_mismatch' for dataset 'cifar10'; accepted options: none"):
        load_dataset("cifar10", options={"on_mismatch": "drop"})
    with pytest.raises(ConfigError, match="unknown option 'root'"):
        load_dataset("disk2d", options={"root": "x"})


def test_missing_root_message(tmp_path: Path):
    with pytest.raises(
        DataError,
        match=r"cifar10: file cifar-10-batches-py/batches\.meta not found under data root .*which does not exist.*"
        r"--data-root DIR.*LABELROBUST_DATA_ROOT.*--download",
    ):
        load_dataset("cifar10", root=tmp_path / "missing")


def test_cutting_order_on_real_cifar(data_root: Path):
    ds = load_dataset(
        "cifar10",
        root=data_root,
        classes=["cat", "dog"],
        imbalance={"cat": 0.3},
        val_size=100,
        train_size=400,
        test_size=200,
        seed=5,
    )
    assert ds.class_names == ("cat", "dog")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (400, 100, 200)
    assert ds.report["sizes"] == {"train": 400, "val": 100, "test": 200}
    # imbalance first, so cat stays about 0.3 as frequent as dog in train and val
    cats, dogs = torch.bincount(ds.train.labels, minlength=2).tolist()
    assert 0.2 < cats / dogs < 0.4
    assert torch.equal(torch.bincount(ds.test.labels), torch.tensor([100, 100]))
    again = load_dataset(
        "cifar10", root=data_root, classes=["cat", "dog"], imbalance={"cat": 0.3},
        val_size=100, train_size=400, test_size=200, seed=5,
    )
    assert torch.equal(ds.train.source_index, again.train.source_index)
    assert torch.equal(ds.val.source_index, again.val.source_index)


def test_size_errors_name_the_setting(data_root: Path):
    with pytest.raises(ConfigError, match=r"train_size 20000 is larger than the split, which has 10000 samples"):
        load_dataset("cifar10", root=data_root, train_size=20000)
    with pytest.raises(ConfigError, match="test_size must be positive, got 0"):
        load_dataset("cifar10", root=data_root, test_size=0)
    with pytest.raises(ConfigError, match="fixed validation split"):
        load_dataset("softcifar10", root=data_root, val_size=10)
