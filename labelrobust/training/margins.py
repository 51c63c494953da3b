"""Probability margins of adversarial examples, the quantities instance reweighting ranks by.

With class probabilities ``p`` (the label space's ``probabilities``: softmax of its scores):

- **PM**, the probabilistic margin of MAIL (Liu et al. 2021, "Probabilistic Margins for
  Instance Reweighting in Adversarial Training"): ``p_y − max_{j≠y} p_j``; negative iff the
  sample is misclassified.
- **Confused labels** (Qiu et al., "Instance Reweighting Adversarial Training Based on Confused
  Label"): ``CL = {j ≠ y : p_j > p_y}``, the classes the adversarial example is mistaken for.
- **CL-PM**: PM when CL is empty (the sample is classified correctly), otherwise
  ``Σ_{j∈CL} (p_y − p_j)``. It equals PM when a single class confuses and is lower when several
  do — methods.md §3: p_y = 0.3, p_j = 0.5 gives −0.2 for both; a second confused p_k = 0.4
  gives PM −0.2 and CL-PM −0.3.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from labelrobust.errors import ConfigError


def _true_and_others(probs: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    if probs.ndim != 2 or y.shape != probs.shape[:1]:
        raise ConfigError(f"margins need probabilities of shape (N, K) and labels of shape (N,), got {tuple(probs.shape)} and {tuple(y.shape)}")
    true = probs.gather(1, y[:, None])
    others = probs.masked_fill(F.one_hot(y, probs.shape[1]).bool(), float("-inf"))
    return true, others


def probability_margin(probs: Tensor, y: Tensor) -> Tensor:
    """PM = ``p_y − max_{j≠y} p_j`` per sample."""
    true, others = _true_and_others(probs, y)
    return true.squeeze(1) - others.amax(dim=1)


def confused_labels(probs: Tensor, y: Tensor) -> Tensor:
    """Boolean N×K mask of the confused labels ``{j ≠ y : p_j > p_y}``."""
    true, others = _true_and_others(probs, y)
    return others > true


def confused_label_margin(probs: Tensor, y: Tensor) -> Tensor:
    """CL-PM per sample: PM without confused labels, else ``Σ_{j∈CL} (p_y − p_j)``."""
    confused = confused_labels(probs, y)
    true = probs.gather(1, y[:, None])
    summed = ((true - probs) * confused).sum(dim=1)
    return torch.where(confused.any(dim=1), summed, probability_margin(probs, y))
