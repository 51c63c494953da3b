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


def test_top2_margin_by_hand():
    space = make_label_space("multilabel", 4)
    top2 = OBJECTIVES.get("top2-margin")
    # classes other than 0 score 1, 2, 0: the 2nd highest is 1, so 1 − 3 = −2 (0 stays in the top 2)
    assert top2(space, LOGITS, Y, None).item() == pytest.approx(1 - 3)
    # class 3 (score 0) is outside the top 2: others 3, 1, 2 → 2nd highest 2, margin 2 − 0 > 0
    assert top2(space, LOGITS, torch.tensor([3]), None).item() == pytest.approx(2.0)
    # targeted toward 1: s_1 − (2nd highest among 0, 2, 3 = 2) = −1 < 0, 1 is not yet in the top 2
    assert top2(space, LOGITS, Y, torch.tensor([1])).item() == pytest.approx(-1.0)
    assert top2(make_label_space("onehot", 4), LOGITS, Y, None).item() == pytest.approx(-2.0)  # any space's scores


def test_top2_margin_is_positive_exactly_when_the_class_left_the_top2_set():
    space = make_label_space("multilabel", 10)
    torch.manual_seed(0)
    logits = torch.randn(500, 10)
    y = torch.randint(0, 10, (500,))
    value = OBJECTIVES.get("top2-margin")(space, logits, y, None)
    out = ~space.predict_sets(logits).gather(1, y[:, None]).squeeze(1)
    assert torch.equal(value > 0, out) and out.any() and (~out).any()
    with pytest.raises(ConfigError, match=r"top2-margin objective needs at least 3 classes .*got 2"):
        OBJECTIVES.get("top2-margin")(make_label_space("onehot", 2), torch.zeros(1, 2), torch.tensor([0]), None)
