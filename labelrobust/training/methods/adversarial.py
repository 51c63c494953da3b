"""Madry PGD adversarial training (Madry et al. 2018, "Towards Deep Learning Models Resistant
to Adversarial Attacks"): ``min_θ E[ max_{‖δ‖≤ε} ℓ(f(x+δ), y) ]``, the inner max approximated
by the last PGD iterate, ℓ the label space's own training loss (cross-entropy for one-hot;
RBC+AT and INT+AT of Han et al. for the code-based spaces)."""

from __future__ import annotations

from labelrobust.training.methods.base import BatchLosses, Method
from labelrobust.training.methods.registry import METHODS


@METHODS.register("at", "Madry PGD adversarial training: the label space's loss at the inner PGD point")
class AdversarialTraining(Method):
    name = "at"

    def losses(self, model, net, x, targets, labels) -> BatchLosses:
        x_adv = self.inner_point(net, x, labels, self.training_loss_objective(targets))
        outputs = model(x_adv)
        return BatchLosses(self.space.loss(outputs, targets), attacked_outputs=outputs.detach())
