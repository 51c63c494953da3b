"""MART (Wang et al. 2020, "Improving Adversarial Robustness Requires Revisiting Misclassified
Examples"): ``BCE(p(x'), y) + λ·KL(p(x) ‖ p(x'))·(1 − p_y(x))`` with
``BCE = −log p_y(x') − log(1 − max_{k≠y} p_k(x'))`` and ``x'`` the inner attack's point on the
label space's training loss.

``log p`` is the label space's ``log_probabilities`` (``log_softmax(scores)``). As in the
authors' code, ``1 − max p_k`` is computed as ``1.0001 − max p_k`` so the log stays finite when
an example is confidently wrong. Clean and adversarial batches share one forward pass (see
``trades.py``). Instance weights (mail-/clir-mart) multiply the BCE term.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from labelrobust.training.methods.base import AdversarialMethod, AdversarialParams, BatchLosses, kl_per_sample
from labelrobust.training.methods.params import param, real
from labelrobust.training.methods.registry import METHODS

LOG_OFFSET = 1.0001
"""``log(LOG_OFFSET − max_{k≠y} p_k)``: finite at ``max p_k = 1`` (MART's reference numerics)."""


def mart_bce(log_p_adv: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``−log p_y − log(1 − max_{k≠y} p_k)`` per sample, from log-probabilities."""
    true = log_p_adv.gather(1, labels[:, None]).squeeze(1)
    others = log_p_adv.exp().masked_fill(F.one_hot(labels, log_p_adv.shape[1]).bool(), 0.0).amax(dim=1)
    return -true - torch.log(LOG_OFFSET - others)


@dataclass(frozen=True, kw_only=True)
class MartParams(AdversarialParams):
    mart_lambda: float = param(6.0, "MART λ ≥ 0, the weight of the KL term")

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set("mart_lambda", real(self.mart_lambda, "mart_lambda", low=0))


@METHODS.register("mart", "MART: boosted CE on the inner point + λ·KL weighted by 1 − p_y(x) (Wang et al. 2020)")
class Mart(AdversarialMethod):
    """MART."""

    name = "mart"
    Params = MartParams

    def losses(self, model, net, x, targets, labels) -> BatchLosses:
        x_adv = self.inner_point(net, x, labels, self.training_loss_objective(targets))
        clean, attacked = model(torch.cat([x, x_adv])).chunk(2)
        log_p_clean, log_p_adv = self.space.log_probabilities(clean), self.space.log_probabilities(attacked)
        true_clean = log_p_clean.gather(1, labels[:, None]).squeeze(1).exp()
        robust = self.params.mart_lambda * kl_per_sample(log_p_clean, log_p_adv) * (1.0 - true_clean)
        return BatchLosses(mart_bce(log_p_adv, labels), robust, clean_outputs=clean.detach(), attacked_outputs=attacked.detach())
