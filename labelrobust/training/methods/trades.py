"""TRADES (Zhang et al. 2019, "Theoretically Principled Trade-off between Robustness and
Accuracy"): ``ℓ(f(x), y) + β·KL(p(x) ‖ p(x'))`` with ``x' = argmax_{x'∈B(x,ε)} KL(p(x) ‖ p(x'))``.

``ℓ`` is the label space's training loss (cross-entropy for one-hot, as in the paper) and ``p``
its class probabilities ``softmax(scores)``. The inner maximisation queries the clean prediction
in eval mode; the outer loss takes the clean and adversarial batches through one forward pass
of their concatenation (one pass is also what DistributedDataParallel needs; BatchNorm layers
then see both halves' statistics). Instance weights (mail-/clir-trades) multiply the KL term.
"""

from __future__ import annotations

import torch

from labelrobust.errors import ConfigError
from labelrobust.metrics.inference import eval_mode
from labelrobust.training.methods.base import BatchLosses, Method, kl_per_sample, log_probabilities
from labelrobust.training.methods.registry import METHODS


@METHODS.register("trades", "TRADES: clean loss + β·KL(p(x) ‖ p(x')), x' maximising the KL (Zhang et al. 2019)")
class Trades(Method):
    name = "trades"
    inner_objective_doc = "KL(p(x) ‖ p(x'))"
    default_beta = 6.0

    def __init__(self, cfg, space) -> None:
        super().__init__(cfg, space)
        beta = self.default_beta if cfg.trades_beta is None else cfg.trades_beta
        if not beta >= 0:
            raise ConfigError(f"method.trades_beta must be ≥ 0, got {beta}")
        self.beta = float(beta)

    def losses(self, model, net, x, targets, labels) -> BatchLosses:
        with torch.no_grad(), eval_mode(net):
            clean_log_p = log_probabilities(self.space, net(x))
        kl_to_clean = lambda space, outputs, y, target: kl_per_sample(clean_log_p, log_probabilities(space, outputs))  # noqa: E731
        x_adv = self.inner_point(net, x, labels, kl_to_clean)
        clean, attacked = model(torch.cat([x, x_adv])).chunk(2)
        kl = kl_per_sample(log_probabilities(self.space, clean), log_probabilities(self.space, attacked))
        return BatchLosses(
            self.beta * kl, self.space.loss(clean, targets), clean_outputs=clean.detach(), attacked_outputs=attacked.detach()
        )

    def describe(self) -> dict:
        return {**super().describe(), "trades_beta": self.beta}
