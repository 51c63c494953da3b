"""Learning-rate schedules and the optimiser, by hand."""

from __future__ import annotations

import math

import pytest
import torch

from labelrobust.config import OptimConfig
from labelrobust.training.schedule import learning_rate, make_optimizer


def test_multistep_as_papers_write_it():
    cfg = OptimConfig(lr=0.1, schedule="multistep", milestones=[75, 90], gamma=0.1)
    assert [learning_rate(cfg, e, 100) for e in (0, 74, 75, 89, 90, 99)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


def test_cosine_and_constant():
    cfg = OptimConfig(lr=0.2, schedule="cosine")
    assert learning_rate(cfg, 0, 10) == pytest.approx(0.2)
    assert learning_rate(cfg, 5, 10) == pytest.approx(0.1)
    assert learning_rate(cfg, 9, 10) == pytest.approx(0.1 * (1 + math.cos(math.pi * 0.9)))
    assert learning_rate(OptimConfig(lr=0.3), 7, 10) == 0.3


def test_optimizer_settings_and_unknown_schedule():
    opt = make_optimizer([torch.nn.Parameter(torch.zeros(2))], OptimConfig(lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4))
    group = opt.param_groups[0]
    assert group["nesterov"] and group["momentum"] == 0.9 and group["weight_decay"] == 5e-4
    with pytest.raises(ValueError, match="unknown schedule"):
        learning_rate(OptimConfig(schedule="step"), 0, 1)
