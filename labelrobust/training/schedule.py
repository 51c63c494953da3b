"""SGD and its learning-rate schedules, as pure functions of the epoch (nothing to checkpoint)."""

from __future__ import annotations

import math

import torch

from labelrobust.config import OptimConfig


def make_optimizer(params, cfg: OptimConfig) -> torch.optim.SGD:
    """SGD with momentum / Nesterov and weight decay, as every study in methods.md trains."""
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
    )


def learning_rate(cfg: OptimConfig, epoch: int, epochs: int) -> float:
    """Learning rate of ``epoch`` (0-based).

    constant: ``lr``; multistep: ``lr · gamma^(number of milestones ≤ epoch)`` with 1-based
    milestone epochs as papers write them (milestone 75 → epochs from the 76th on, i.e.
    0-based 75); cosine: ``lr · (1 + cos(π·epoch/epochs)) / 2``.
    """
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "multistep":
        return cfg.lr * cfg.gamma ** sum(1 for m in cfg.milestones if epoch >= m)
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
    raise ValueError(f"unknown schedule {cfg.schedule!r}")


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
