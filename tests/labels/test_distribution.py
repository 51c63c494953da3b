"""onehot / smoothing / soft: exact targets and KL losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labelrobust.errors import ConfigError
from labelrobust.labels import make_label_space


def test_onehot_loss_is_cross_entropy():
    logits = torch.randn(16, 5)
    y = torch.randint(0, 5, (16,))
    space = make_label_space("onehot", 5)
    torch.testing.assert_close(space.loss(logits, space.encode(y)), F.cross_entropy(logits, y, reduction="none"))


def test_smoothing_target_and_kl_by_hand():
    space = make_label_space("smoothing", 4, eps=0.2)
    t = space.encode(torch.tensor([2]))
    torch.testing.assert_close(t, torch.tensor([[0.05, 0.05, 0.85, 0.05]]))
    logits = torch.tensor([[1.0, 0.0, 2.0, -1.0]])
    p = torch.softmax(logits, 1)[0].tolist()
    expected = sum(ti * math.log(ti / pi) for ti, pi in zip(t[0].tolist(), p, strict=True))
    assert space.loss(logits, t).item() == pytest.approx(expected, rel=1e-5)


def test_smoothing_rejects_bad_eps():
    with pytest.raises(ConfigError, match=r"eps must be a finite number in \[0, 1\)"):
        make_label_space("smoothing", 10, eps=1.0)


def test_soft_targets_from_real_cifar10h(data_root):
    probs = torch.as_tensor(np.load(data_root / "cifar10h" / "cifar10h-probs.npy", allow_pickle=False)[:32]).float()
    probs = probs / probs.sum(1, keepdim=True)
    space = make_label_space("soft", 10)
    t = space.encode(probs)
    logits = torch.log(t.clamp_min(1e-12))
    # KL(t ‖ t) = 0 up to the clamp of zero entries.
    assert space.loss(logits, t).abs().max() < 1e-4
    assert (space.loss(torch.zeros(32, 10), t) > 0).all()


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.tensor([[0.5, 0.6]]), "sum to 1 per row"),
        (torch.tensor([[1.5, -0.5]]), "non-negative"),
        (torch.tensor([[float("nan"), 1.0]]), "NaN/inf"),
        (torch.tensor([[0.2, 0.3, 0.5]]), r"shape \(N, 2\)"),
    ],
)
def test_soft_rejects_invalid_distributions(bad, message):
    with pytest.raises(ConfigError, match=message):
        make_label_space("soft", 2).encode(bad)


def test_onehot_refuses_soft_targets():
    with pytest.raises(ConfigError, match="takes hard labels"):
        make_label_space("onehot", 2).encode(torch.tensor([[0.5, 0.5]]))
