"""TRADES (Zhang et al. 2019, "Theoretically Principled Trade-off between Robustness and
Accuracy"): ``ℓ(f(x), y) + β·KL(p(x) ‖ p(x'))`` with ``x' = argmax_{x'∈B(x,ε)} KL(p(x) ‖ p(x'))``.

``ℓ`` is the label space's training loss (cross-entropy for one-hot, as in the paper) and
``log p`` its ``log_probabilities`` (``log_softmax(scores)``). The inner maximisation queries
the clean prediction in eval mode; the outer loss takes the clean and adversarial batches
through one forward pass of their concatenation (one pass is also what DistributedDataParallel
needs; BatchNorm layers then see both halves' statistics). Instance weights (mail-/clir-trades)
multiply the KL term.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from labelrobust.metrics.inference import eval_mode
from labelrobust.training.methods.base import AdversarialMethod, AdversarialParams, BatchLosses, kl_per_sample
from labelrobust.training.methods.params import param, real
from labelrobust.training.methods.registry import METHODS


@dataclass(frozen=True, kw_only=True)
class TradesParams(AdversarialParams):
    trades_beta: float = param(6.0, "TRADES β ≥ 0, the weight of the KL term (mail-/clir-trades: 5)")

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set("trades_beta", real(self.trades_beta, "trades_beta", low=0))


@METHODS.register("trades", "TRADES: clean loss + β·KL(p(x) ‖ p(x')), x' maximising the KL (Zhang et al. 2019)")
class Trades(AdversarialMethod):
    """TRADES."""

    name = "trades"
    Params = TradesParams
    inner_objective_doc = "KL(p(x) ‖ p(x'))"

    def losses(self, model, net, x, targets, labels) -> BatchLosses:
        space = self.space
        with torch.no_grad(), eval_mode(net):
            clean_log_p = space.log_probabilities(net(x))
        kl_to_clean = lambda space, outputs, y, target: kl_per_sample(clean_log_p, space.log_probabilities(outputs))  # noqa: E731
        x_adv = self.inner_point(net, x, labels, kl_to_clean)
        clean, attacked = model(torch.cat([x, x_adv])).chunk(2)
        kl = kl_per_sample(space.log_probabilities(clean), space.log_probabilities(attacked))
        return BatchLosses(
            self.params.trades_beta * kl, space.loss(clean, targets), clean_outputs=clean.detach(), attacked_outputs=attacked.detach()
        )
