"""Attack objectives by hand, through the label space's scores."""

from __future__ import annotations

import pytest
import torch

from labelrobust.attacks import OBJECTIVES
from labelrobust.errors import ConfigError
from labelrobust.labels import make_label_space

LOGITS = torch.tensor([[3.0, 1.0, 2.0, 0.0]])
Y = torch.tensor([0])
T = torch.tensor([2])


def test_margin_and_dlr_by_hand():
    space = make_label_space("onehot", 4)
    assert OBJECTIVES.get("margin")(space, LOGITS, Y, None).item() == pytest.approx(2 - 3)
    assert OBJECTIVES.get("margin")(space, LOGITS, Y, T).item() == pytest.approx(2 - 3)
    # sorted: 3, 2, 1, 0 → untargeted −(3 − 2)/(3 − 1); targeted −(3 − 2)/(3 − (1 + 0)/2)
    assert OBJECTIVES.get("dlr")(space, LOGITS, Y, None).item() == pytest.approx(-0.5)
    assert OBJECTIVES.get("dlr")(space, LOGITS, Y, T).item() == pytest.approx(-1 / 2.5)


def test_targeted_loss_is_the_soft_label_study_difference():
    space = make_label_space("smoothing", 4, eps=0.1)
    own = OBJECTIVES.get("loss")
    expected = space.loss(LOGITS, space.encode(Y)) - space.loss(LOGITS, space.encode(T))
    assert own(space, LOGITS, Y, T).item() == pytest.approx(expected.item())


def test_margin_works_on_code_based_scores():
    space = make_label_space("interval", 4, s0=0, alpha=1, beta=3)
    out = torch.tensor([[5.0]])  # inside class 1 = [4, 7]; class 0 = [0, 3] is 2 away
    assert OBJECTIVES.get("margin")(space, out, torch.tensor([1]), None).item() == pytest.approx(-2.0)


def test_dlr_needs_enough_classes():
    with pytest.raises(ConfigError, match="needs at least 3 classes"):
        OBJECTIVES.get("dlr")(make_label_space("onehot", 2), torch.zeros(1, 2), torch.tensor([0]), None)
    with pytest.raises(ConfigError, match="unknown attack objective 'cw'"):
        OBJECTIVES.get("cw")
