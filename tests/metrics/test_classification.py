"""Accuracy, abstain rate and confusion matrix by hand, abstentions counted as wrong."""

from __future__ import annotations

import pytest
import torch

from labelrobust.errors import ConfigError
from labelrobust.metrics import abstain_rate, accuracy, confusion_matrix


def test_by_hand_with_abstentions():
    labels = torch.tensor([0, 1, 2, 2, 1])
    pred = torch.tensor([0, -1, 2, 1, 1])
    assert accuracy(pred, labels) == pytest.approx(3 / 5)
    assert abstain_rate(pred) == pytest.approx(1 / 5)
    assert confusion_matrix(pred, labels, 3).tolist() == [[1, 0, 0, 0], [0, 1, 0, 1], [0, 1, 1, 0]]


def test_errors():
    with pytest.raises(ConfigError, match=r"both have shape \(N,\)"):
        accuracy(torch.zeros(3, dtype=torch.long), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ConfigError, match="empty split"):
        accuracy(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ConfigError, match="outside 0..2"):
        confusion_matrix(torch.tensor([3]), torch.tensor([0]), 3)
