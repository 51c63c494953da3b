"""Label-vector distances on real CIFAR-10H soft labels, checked against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labelrobust.errors import ConfigError
from labelrobust.metrics import label_vector_distances


def test_against_numpy_on_cifar10h(data_root):
    target = np.load(data_root / "cifar10h" / "cifar10h-probs.npy", allow_pickle=False)[:200].astype(np.float64)
    target /= target.sum(1, keepdims=True)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=target.shape)
    pred = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(target > 0, target * np.log(target / pred), 0.0).sum(1).mean()
    got = label_vector_distances(torch.tensor(pred, dtype=torch.float32), torch.tensor(target, dtype=torch.float32))
    assert got["kl"] == pytest.approx(kl, rel=1e-4)
    assert got["l1"] == pytest.approx(np.abs(pred - target).sum(1).mean(), rel=1e-5)
    assert got["l2"] == pytest.approx(np.linalg.norm(pred - target, axis=1).mean(), rel=1e-5)
    assert got["linf"] == pytest.approx(np.abs(pred - target).max(1).mean(), rel=1e-5)
    same = label_vector_distances(torch.tensor(target).float(), torch.tensor(target).float())
    assert same["l1"] == 0 and same["kl"] == pytest.approx(0, abs=1e-6)


def test_shape_mismatch():
    with pytest.raises(ConfigError, match="must both be N×K"):
        label_vector_distances(torch.zeros(2, 3), torch.zeros(2, 4))
