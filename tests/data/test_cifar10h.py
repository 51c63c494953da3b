"""Tests of the CIFAR-10H loader on the published files and on broken copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from labelrobust.data.cifar10h import COUNTS_FILE, PROBS_FILE, load_cifar10h, read_cifar10h
from labelrobust.errors import DataError


def test_cifar10h_real(data_root: Path):
    ds = load_cifar10h(data_root, False)
    assert (len(ds.train), len(ds.test)) == (9000, 1000)
    assert ds.report["argmax_agrees_with_cifar"] == 9921
    assert ds.report["argmax_agrees_with_cifar_percent"] == 99.21
    assert torch.equal(ds.test.source_index, torch.arange(9000, 10000))
    probs = np.load(data_root / PROBS_FILE, allow_pickle=False)
    assert torch.allclose(ds.test.soft_labels, torch.from_numpy(probs[9000:]).float())
    assert ds.train.labels[:4].tolist() == [3, 8, 8, 0]
    assert torch.allclose(ds.train.soft_labels.sum(1), torch.ones(9000))


@pytest.fixture
def good(data_root: Path) -> tuple[np.ndarray, np.ndarray]:
    probs = np.load(data_root / PROBS_FILE, allow_pickle=False)[:20].copy()
    counts = np.load(data_root / COUNTS_FILE, allow_pickle=False)[:20].astype(np.float64)
    return probs, counts


def _check(tmp_path: Path, probs, counts, n: int = 20):
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "c.npy", counts)
    return read_cifar10h(tmp_path / "p.npy", tmp_path / "c.npy", n)


def test_read_cifar10h_accepts_consistent_files(tmp_path: Path, good):
    probs, counts = _check(tmp_path, *good)
    assert probs.shape == counts.shape == (20, 10)


def test_cifar10h_wrong_shape(tmp_path: Path, good):
    with pytest.raises(DataError, match=r"p\.npy: expected shape \(20, 10\), got \(19, 10\)"):
        _check(tmp_path, good[0][:19], good[1])


def test_cifar10h_not_finite(tmp_path: Path, good):
    probs = good[0].copy()
    probs[4, 2] = np.nan
    with pytest.raises(DataError, match="row 4 has a non-finite value"):
        _check(tmp_path, probs, good[1])


def test_cifar10h_probs_not_summing_to_one(tmp_path: Path, good):
    probs = good[0].copy()
    probs[7] *= 1.01
    with pytest.raises(DataError, match="row 7 is not a probability vector"):
        _check(tmp_path, probs, good[1])


def test_cifar10h_negative_counts(tmp_path: Path, good):
    counts = good[1].copy()
    counts[3, 0] = -1
    with pytest.raises(DataError, match="row 3 has a negative count"):
        _check(tmp_path, good[0], counts)


def test_cifar10h_counts_disagree_with_probs(tmp_path: Path, good):
    counts = good[1].copy()
    counts[11] = np.roll(counts[11], 1)
    with pytest.raises(DataError, match="disagree at row 11"):
        _check(tmp_path, good[0], counts)


def test_cifar10h_refuses_pickled_objects(tmp_path: Path, good):
    np.save(tmp_path / "p.npy", np.array([object()] * 3, dtype=object), allow_pickle=True)
    np.save(tmp_path / "c.npy", good[1])
    with pytest.raises(DataError, match=r"p\.npy: not a readable \.npy array without pickled objects"):
        read_cifar10h(tmp_path / "p.npy", tmp_path / "c.npy", 20)


def test_cifar10h_missing(tmp_path: Path):
    with pytest.raises(DataError, match=r"cifar10h/cifar10h-probs\.npy not found .*jcpeterson/cifar-10h"):
        load_cifar10h(tmp_path, False)
