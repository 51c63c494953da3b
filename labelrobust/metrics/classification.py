"""Hard-decision metrics: accuracy, abstain rate, confusion matrix (abstain counted as wrong)."""

from __future__ import annotations

import torch
from torch import Tensor

from labelrobust.errors import ConfigError
from labelrobust.labels import ABSTAIN


def _check(pred: Tensor, labels: Tensor) -> None:
    if pred.shape != labels.shape or pred.ndim != 1:
        raise ConfigError(f"predictions and labels must both have shape (N,), got {tuple(pred.shape)} and {tuple(labels.shape)}")


def accuracy(pred: Tensor, labels: Tensor) -> float:
    """Share of samples decoded to their label; an abstention is never correct."""
    _check(pred, labels)
    if len(labels) == 0:
        raise ConfigError("accuracy of an empty split is undefined")
    return (pred == labels).float().mean().item()


def abstain_rate(pred: Tensor) -> float:
    """Share of samples decoded to ABSTAIN (no class matched)."""
    if len(pred) == 0:
        raise ConfigError("abstain rate of an empty split is undefined")
    return (pred == ABSTAIN).float().mean().item()


def confusion_matrix(pred: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """K × (K+1) counts: row = true class, column = decoded class, last column = abstained."""
    _check(pred, labels)
    if ((pred < ABSTAIN) | (pred >= num_classes)).any() or ((labels < 0) | (labels >= num_classes)).any():
        raise ConfigError(f"predictions/labels outside 0..{num_classes - 1} (or -1 for abstain)")
    column = torch.where(pred == ABSTAIN, torch.full_like(pred, num_classes), pred)
    flat = labels * (num_classes + 1) + column
    return torch.bincount(flat, minlength=num_classes * (num_classes + 1)).reshape(num_classes, num_classes + 1)
