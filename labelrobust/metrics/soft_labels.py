"""Distances between predicted and target label vectors, as the soft-label study reports them.

For predicted distributions ``p`` (softmax of the label space's scores) and target
distributions ``t`` (human soft labels), per sample:
``KL(t ‖ p)``, ``‖p − t‖₁``, ``‖p − t‖₂``, ``‖p − t‖∞``; reported as means over the split.
"""

from __future__ import annotations

import torch
from torch import Tensor

from labelrobust.errors import ConfigError


def label_vector_distances(predicted: Tensor, target: Tensor) -> dict[str, float]:
    """Mean KL and l1/l2/l∞ distances between rows of ``predicted`` and ``target`` (both N×K)."""
    if predicted.shape != target.shape or predicted.ndim != 2:
        raise ConfigError(f"predicted and target label vectors must both be N×K, got {tuple(predicted.shape)} and {tuple(target.shape)}")
    if len(target) == 0:
        raise ConfigError("label-vector distances of an empty split are undefined")
    diff = predicted - target
    # Clamp keeps KL finite where a model puts (numerically) zero mass on a rated class.
    kl = (torch.xlogy(target, target) - target * predicted.clamp_min(1e-12).log()).sum(1)
    return {
        "kl": kl.mean().item(),
        "l1": diff.abs().sum(1).mean().item(),
        "l2": diff.norm(dim=1).mean().item(),
        "linf": diff.abs().amax(1).mean().item(),
    }
