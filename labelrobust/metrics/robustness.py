"""Robustness metrics from decoded predictions (``-1`` = abstain), as the studies define them.

- robust accuracy: share of samples classified correctly on the clean input *and* at the
  adversarial point (a sample the model already gets wrong is never robust, even when an
  attack pushes it onto its true class);
- attack success rate: share of the clean-correct samples the attack turns wrong;
- survival rate (soft-label study, Tyrväinen et al.): share whose dominant class is unchanged,
  ``adv_pred == clean_pred`` — measured by attacking the clean *prediction*, not the true label;
  samples with no dominant class (clean abstention) and, for a targeted attack, those whose
  true class is the target are left out;
- stability ratio (task-aware study, Han et al.): ``R = acc_adv / acc_clean``;
- transfer-rate matrix (task-aware study): row = model that crafts, column = victim; among the
  samples the crafting model classifies correctly, the share whose adversarial example
  (crafted on the row model) the column model gets wrong;
- clean-vs-adversarial confusion: counts of (clean decision, adversarial decision) pairs of the
  one-hot-ised outputs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from labelrobust.errors import ConfigError
from labelrobust.labels import ABSTAIN


def _same_shape(*tensors: Tensor) -> None:
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ConfigError(f"predictions and labels must all have the same shape (N,), got {sorted(shapes)}")


def robust_accuracy(adv_pred: Tensor, labels: Tensor, clean_pred: Tensor | None = None) -> float:
    """Share of samples with ``adv_pred == labels`` (and ``clean_pred == labels`` when given)."""
    _same_shape(adv_pred, labels)
    if len(labels) == 0:
        raise ConfigError("robust accuracy of an empty split is undefined")
    robust = adv_pred == labels
    if clean_pred is not None:
        _same_shape(clean_pred, labels)
        robust &= clean_pred == labels
    return robust.float().mean().item()


def attack_success_rate(clean_pred: Tensor, adv_pred: Tensor, labels: Tensor) -> float:
    """Among clean-correct samples, the share the attack makes wrong (abstain counts as wrong)."""
    _same_shape(clean_pred, adv_pred, labels)
    correct = clean_pred == labels
    if not correct.any():
        raise ConfigError("no sample is classified correctly on clean inputs; attack success is undefined")
    return (adv_pred[correct] != labels[correct]).float().mean().item()


def survival_rate(clean_pred: Tensor, adv_pred: Tensor, labels: Tensor | None = None, target: int | Tensor | None = None) -> float:
    """Share of samples whose decision is unchanged by the attack (soft-label study).

    Samples whose clean decision is an abstention have no dominant class and are left out. For
    a targeted attack pass ``labels`` and ``target``: samples of the target class, and those
    already predicted as the target, are left out (``survival_eligible``).
    """
    _same_shape(clean_pred, adv_pred)
    if target is not None:
        if labels is None:
            raise ConfigError("survival of a targeted attack needs the labels, to leave out the target class")
        _same_shape(clean_pred, labels)
    keep = survival_eligible(clean_pred, labels, target)
    if not keep.any():
        raise ConfigError("no sample left to measure survival on")
    return (adv_pred[keep] == clean_pred[keep]).float().mean().item()


def survival_eligible(clean_pred: Tensor, labels: Tensor | None = None, target: int | Tensor | None = None) -> Tensor:
    """The samples survival is measured on: those with a dominant class (no clean abstention);
    for a targeted attack also not of the target class, and not already predicted as the target
    (nothing to survive)."""
    keep = clean_pred != ABSTAIN
    if target is not None:
        keep &= clean_pred != torch.as_tensor(target)
        if labels is not None:
            keep &= labels != torch.as_tensor(target)
    return keep


def stability_ratio(acc_adv: float, acc_clean: float) -> float:
    """``R = acc_adv / acc_clean`` (task-aware study)."""
    if acc_clean <= 0:
        raise ConfigError(f"the stability ratio needs a clean accuracy > 0, got {acc_clean}")
    return acc_adv / acc_clean


def transfer_rate_matrix(clean_correct: Tensor, adv_wrong: Tensor) -> Tensor:
    """M×M transfer rates from ``clean_correct`` (M×N: model i right on clean sample n) and
    ``adv_wrong`` (M×M×N: victim j wrong on the example crafted on model i for sample n).

    Entry (i, j) is the share of ``adv_wrong[i, j]`` over the samples model i gets right; the
    diagonal is each model's white-box success rate.
    """
    if clean_correct.ndim != 2 or adv_wrong.shape != (clean_correct.shape[0], clean_correct.shape[0], clean_correct.shape[1]):
        raise ConfigError(f"expected clean_correct M×N and adv_wrong M×M×N, got {tuple(clean_correct.shape)} and {tuple(adv_wrong.shape)}")
    counts = clean_correct.sum(1)
    if (counts == 0).any():
        raise ConfigError(f"models {(counts == 0).nonzero().flatten().tolist()} get no clean sample right; their rows are undefined")
    hits = (adv_wrong & clean_correct[:, None, :]).sum(2).float()
    return hits / counts[:, None].float()


def adversarial_confusion(clean_pred: Tensor, adv_pred: Tensor, num_classes: int) -> Tensor:
    """(K+1)×(K+1) counts: row = clean decision, column = adversarial decision; index K = abstain."""
    _same_shape(clean_pred, adv_pred)
    for t in (clean_pred, adv_pred):
        if ((t < ABSTAIN) | (t >= num_classes)).any():
            raise ConfigError(f"decisions must lie in 0..{num_classes - 1} or be -1 (abstain)")
    k = num_classes + 1
    rows = torch.where(clean_pred == ABSTAIN, num_classes, clean_pred)
    cols = torch.where(adv_pred == ABSTAIN, num_classes, adv_pred)
    return torch.bincount(rows * k + cols, minlength=k * k).reshape(k, k)
