"""Per-sample weights of instance-reweighted adversarial training (MAIL, CLIRAT; methods.md §3).

``ω_unn,i = sigmoid(−γ·(m_i − β))`` with ``m`` a margin of the adversarial example (PM for
MAIL, CL-PM for CLIRAT), so riskier samples (smaller margin) weigh more; normalised per
mini-batch to ``ω_i = M·ω_unn,i / Σ_j ω_unn,j`` (M the batch size, so the mean weight is 1 and
the loss scale matches unweighted training). During a burn-in of the first epochs every
weight is 1. Weights are constants of the loss (no gradient flows through them).

Under distributed training the normaliser ``Σ_j ω_unn,j / M`` is taken over the whole global
batch (summed across processes), so N processes weigh exactly as one process would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from labelrobust.labels import LabelSpace
from labelrobust.registry import Registry
from labelrobust.training.margins import confused_label_margin, probability_margin

Margin = Callable[[Tensor, Tensor], Tensor]
MARGINS: Registry[Margin] = Registry("reweighting margin")
MARGINS.register("pm", "probability margin p_y − max_{k≠y} p_k of the adversarial example (MAIL)")(probability_margin)
MARGINS.register("cl-pm", "confused-label probability margin of the adversarial example (CLIRAT)")(confused_label_margin)

REWEIGHTINGS = ("none", *MARGINS.available())
"""The names ``method.reweight`` accepts."""


def unnormalised_weights(margin: Tensor, gamma: float, bias: float) -> Tensor:
    """``sigmoid(−γ·(m − β))``."""
    return torch.sigmoid(-gamma * (margin - bias))


def normalise(weights: Tensor, total: Tensor | float | None = None, count: int | None = None) -> Tensor:
    """``M·ω / Σω``; ``total`` and ``count`` replace the batch's own sum and size when the
    mini-batch is spread over several processes."""
    total = weights.sum() if total is None else total
    count = len(weights) if count is None else count
    return weights * (count / total)


@dataclass(frozen=True)
class Weighting:
    """Instance weights ``sigmoid(−γ(m − β))`` of the margin ``margin`` ("pm" or "cl-pm"),
    normalised per mini-batch, all 1 before epoch ``burn_in`` (0-based epochs < burn_in)."""

    margin: str
    gamma: float
    bias: float
    burn_in: int

    def margins(self, space: LabelSpace, attacked_outputs: Tensor, labels: Tensor) -> Tensor:
        return MARGINS.get(self.margin)(space.probabilities(attacked_outputs.detach()), labels)

    def active(self, epoch: int) -> bool:
        return epoch >= self.burn_in

    def raw(self, margins: Tensor) -> Tensor:
        return unnormalised_weights(margins, self.gamma, self.bias)
