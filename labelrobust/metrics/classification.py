"""Hard-decision metrics: accuracy, abstain rate, confusion matrix (abstain counted as wrong),
and for multi-label predictions set accuracy and target accuracy (``docs/multilabel.md``)."""

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


def _check_sets(pred_sets: Tensor, other: Tensor, what: str) -> None:
    if pred_sets.dtype != torch.bool or pred_sets.ndim != 2:
        raise ConfigError(f"predicted sets must be a bool N×K tensor, got {pred_sets.dtype} {tuple(pred_sets.shape)}")
    if len(pred_sets) == 0:
        raise ConfigError(f"{what} of an empty split is undefined")
    if other.shape[0] != pred_sets.shape[0]:
        raise ConfigError(f"{pred_sets.shape[0]} predicted sets but {other.shape[0]} labels")


def set_accuracy(pred_sets: Tensor, label_sets: Tensor) -> float:
    """Share of samples whose predicted set equals the label set (every class right): mean_n [P_n = T_n]."""
    _check_sets(pred_sets, label_sets, "set accuracy")
    if label_sets.shape != pred_sets.shape:
        raise ConfigError(f"predicted sets and label sets must both be N×K, got {tuple(pred_sets.shape)} and {tuple(label_sets.shape)}")
    return (pred_sets == label_sets.bool()).all(dim=1).float().mean().item()


def target_accuracy(pred_sets: Tensor, labels: Tensor) -> float:
    """Share of samples whose target class (``labels``, the class of object 0) is in the predicted set: mean_n [y_n ∈ P_n]."""
    _check_sets(pred_sets, labels, "target accuracy")
    if labels.ndim != 1 or labels.dtype != torch.int64 or ((labels < 0) | (labels >= pred_sets.shape[1])).any():
        raise ConfigError(f"labels must be int64 of shape (N,) in 0..{pred_sets.shape[1] - 1}")
    return pred_sets.gather(1, labels[:, None]).float().mean().item()
