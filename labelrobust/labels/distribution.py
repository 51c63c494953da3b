"""Label spaces whose targets are distributions over the K classes and whose model outputs logits.

Loss (soft-label study, Tyrväinen et al., §1 of methods.md): the KL divergence from the target
distribution ``t`` to the softmax output,

    KL(t ‖ softmax(z)) = Σ_k t_k (log t_k − log softmax(z)_k),   with 0·log 0 = 0.

For a one-hot ``t`` this is the cross-entropy; for any ``t`` it differs from the cross-entropy
only by the entropy of ``t``, a constant, so gradients are those of the cross-entropy.
Scores are the logits, decode is their arg-max; these spaces never abstain.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from labelrobust.labels.base import LabelSpace, on_simplex


def kl_to_softmax(logits: Tensor, targets: Tensor) -> Tensor:
    """Per-sample ``KL(targets ‖ softmax(logits))``, shape N."""
    return (torch.xlogy(targets, targets) - targets * F.log_softmax(logits, dim=1)).sum(dim=1)


class DistributionLabelSpace(LabelSpace):
    """Base of ``onehot``, ``smoothing`` and ``soft``: K logits, KL loss, arg-max decode.

    ``loss`` takes N×K distributions (what ``encode`` returns) and refuses anything else: with
    a target row that does not sum to 1 or has a negative entry the "KL" is no divergence
    (it can be negative, and training would follow it silently), and a NaN spreads to
    every weight.
    """

    scores_are_outputs = True

    target_kind = "N×K distributions"

    @property
    def out_dim(self) -> int:
        return self.num_classes

    def encode(self, y: Tensor) -> Tensor:
        targets = self.targets_from(y)
        if targets.ndim == 1:
            targets = F.one_hot(targets, self.num_classes).to(torch.float32)
        return self.transform_distribution(targets)

    def transform_distribution(self, q: Tensor) -> Tensor:
        """Hook for spaces that reshape the target distribution (label smoothing)."""
        return q

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        self.check_outputs(outputs)
        self.check_targets(outputs, targets)
        return kl_to_softmax(outputs, targets)

    def valid_targets(self, targets: Tensor) -> Tensor:
        return on_simplex(targets)

    def explain_invalid_targets(self, targets: Tensor) -> None:
        self.check_soft_labels(targets, "loss targets")  # names the rows and the condition that failed

    def scores(self, outputs: Tensor) -> Tensor:
        self.check_outputs(outputs)
        return outputs
