"""Robustness metrics against hand-computed small cases."""

from __future__ import annotations

import pytest
import torch

from labelrobust.errors import ConfigError
from labelrobust.metrics.robustness import (
    adversarial_confusion,
    attack_success_rate,
    robust_accuracy,
    stability_ratio,
    survival_rate,
    transfer_rate_matrix,
)

LABELS = torch.tensor([0, 1, 2, 1, 0, 2])
CLEAN = torch.tensor([0, 1, 2, 2, 0, 2])  # sample 3 wrong already
ADV = torch.tensor([0, -1, 1, 2, 2, 2])   # sample 1 abstains, 2 and 4 flip


def test_accuracy_success_survival_by_hand():
    assert robust_accuracy(ADV, LABELS) == pytest.approx(2 / 6)  # samples 0 and 5
    assert attack_success_rate(CLEAN, ADV, LABELS) == pytest.approx(3 / 5)  # 1, 2, 4 of the five correct
    assert survival_rate(CLEAN, ADV) == pytest.approx(3 / 6)  # 0, 3, 5 unchanged
    # targeted at class 2: samples 2 and 5 (true class 2) and 3 (already predicted as 2: nothing
    # to survive) are left out → 0, 1, 4 → only 0 survives
    assert survival_rate(CLEAN, ADV, LABELS, target=2) == pytest.approx(1 / 3)
    assert stability_ratio(0.45, 0.9) == pytest.approx(0.5)


def test_robust_accuracy_never_counts_a_sample_wrong_before_the_attack():
    pushed_onto_its_label = torch.tensor([0, -1, 1, 1, 2, 2])  # sample 3 (clean 2, true 1) now says 1
    assert robust_accuracy(pushed_onto_its_label, LABELS) == pytest.approx(3 / 6)  # 0, 3, 5
    assert robust_accuracy(pushed_onto_its_label, LABELS, CLEAN) == pytest.approx(2 / 6)  # 0, 5: 3 was wrong already
    assert robust_accuracy(ADV, LABELS, CLEAN) == pytest.approx(2 / 6)


def test_survival_leaves_out_clean_abstentions():
    clean = torch.tensor([0, -1, 2, -1])
    adv = torch.tensor([0, -1, 1, 2])  # the abstaining samples have no dominant class to keep
    assert survival_rate(clean, adv) == pytest.approx(1 / 2)
    with pytest.raises(ConfigError, match="no sample left to measure survival on"):
        survival_rate(torch.tensor([-1, -1]), torch.tensor([0, -1]))


def test_transfer_matrix_by_hand():
    clean_correct = torch.tensor([[1, 1, 1, 0], [1, 0, 1, 1]], dtype=torch.bool)
    adv_wrong = torch.tensor(
        [
            [[1, 1, 0, 1], [0, 1, 0, 1]],  # crafted on model 0: fools 0 on {0,1}, fools 1 on {1}
            [[0, 0, 1, 1], [1, 0, 1, 1]],  # crafted on model 1: fools 0 on {2,3}, 1 on {0,2,3}
        ],
        dtype=torch.bool,
    )
    rates = transfer_rate_matrix(clean_correct, adv_wrong)
    # row 0 counts samples 0,1,2 (model 0 right): (2/3, 1/3); row 1 counts 0,2,3: (2/3, 3/3)
    torch.testing.assert_close(rates, torch.tensor([[2 / 3, 1 / 3], [2 / 3, 1.0]]))


def test_confusion_with_abstain_column():
    m = adversarial_confusion(CLEAN, ADV, 3)
    assert m.shape == (4, 4) and m.sum() == 6
    assert m[1, 3] == 1 and m[2, 1] == 1 and m[0, 2] == 1 and m[2, 2] == 2 and m[0, 0] == 1


def test_errors():
    with pytest.raises(ConfigError, match="same shape"):
        robust_accuracy(torch.zeros(2, dtype=torch.long), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ConfigError, match="same shape"):
        robust_accuracy(torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ConfigError, match="robust accuracy of an empty split is undefined"):
        robust_accuracy(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ConfigError, match="needs the labels"):
        survival_rate(CLEAN, ADV, target=2)
    with pytest.raises(ConfigError, match="clean accuracy > 0"):
        stability_ratio(0.1, 0.0)
    with pytest.raises(ConfigError, match="get no clean sample right"):
        transfer_rate_matrix(torch.zeros(2, 3, dtype=torch.bool), torch.zeros(2, 2, 3, dtype=torch.bool))
    with pytest.raises(ConfigError, match="no sample is classified correctly"):
        attack_success_rate(torch.ones(3, dtype=torch.long), torch.ones(3, dtype=torch.long), torch.zeros(3, dtype=torch.long))
