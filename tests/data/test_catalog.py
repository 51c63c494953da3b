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

EXPECTED = ["cifar10", "cifar100", "cifar10h", "digits", "disk2d", "double-mnist", "image-folder", "mnist", "softcifar10", "tiny-imagenet", "toy3"]


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
    assert dataset_options("disk2d") == {"radius": 1.0, "n_train": 2000, "n_test": 1000, "seed": 0, "soft_labels": None}
    ds = load_dataset("disk2d", options={"radius": 2.0, "n_train": 50, "n_test": 20})
    assert len(ds.train) == 50 and ds.std == (1.0, 1.0)
    with pytest.raises(ConfigError, match=r"unknown option 'radious' for dataset 'disk2d'; accepted options: radius=1.0, n_train=2000"):
        load_dataset("disk2d", options={"radious": 2.0})
    with pytest.raises(ConfigError, match=r"unknown option 'on_mismatch' for dataset 'cifar10'; accepted options: soft_labels=None"):
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


def test_a_data_root_that_is_a_file_says_so(monkeypatch, tmp_path: Path):
    afile = tmp_path / "datasets.tar"
    afile.write_bytes(b"x")
    with pytest.raises(DataError, match=r"data root .*datasets\.tar is a file, not a folder; pass --data-root DIR"):
        load_dataset("cifar10", root=afile)
    with pytest.raises(DataError, match=r"is a file, not a folder"):
        resolve_data_root(str(afile))
    monkeypatch.setenv(DATA_ROOT_ENV, str(afile))
    with pytest.raises(DataError, match=rf"data root .*datasets\.tar \(from \${DATA_ROOT_ENV}\) is a file, not a folder"):
        load_dataset("digits")


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        ({"train_size": 5}, r"train_size 5 is smaller than the 10 classes of the split: a stratified subset needs at least one sample per class \(train_size ≥ num_classes = 10\)"),
        ({"test_size": 9}, r"test_size 9 is smaller than the 10 classes"),
        ({"val_size": 3}, r"val_size 3 is smaller than the 10 classes"),
        ({"classes": ["3"]}, r"classes must keep at least 2 classes .*got \['3'\]"),
        ({"classes": ["3", "5"], "train_size": 1}, r"train_size 1 is smaller than the 2 classes"),
        ({"imbalance": {"3": 0.0}}, r"fraction for class '3' must be a number with 0 < f <= 1, got 0.0"),
        ({"imbalance": {"3": 1.01}}, r"0 < f <= 1, got 1.01"),
        ({"train_size": -5}, "train_size must be positive, got -5"),
        ({"options": ["radius"]}, r"options of dataset 'digits' must be a mapping"),
    ],
)
def test_bad_cuts_of_real_digits_are_one_line_errors(cut, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_dataset("digits", **cut)
    assert "\n" not in str(info.value)


def test_a_single_class_of_real_cifar_is_refused(data_root: Path):
    with pytest.raises(ConfigError, match=r"classes must keep at least 2 classes .*got \['cat'\]"):
        load_dataset("cifar10", root=data_root, classes=["cat"])
