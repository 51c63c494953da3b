"""Madry adversarial training (Madry et al. 2018, "Towards Deep Learning Models Resistant to
Adversarial Attacks"): ``min_θ E[ max_{‖δ‖≤ε} ℓ(f(x+δ), y) ]``, the inner max approximated by
the inner attack — by default the last PGD iterate, ℓ the label space's own training loss
(cross-entropy for one-hot; RBC+AT and INT+AT of Han et al. for the code-based spaces).

With ``inner: fgsm-rs`` this is "fast" adversarial training (Wong, Rice, Kolter 2020, "Fast is
better than free"): one FGSM step of 1.25·eps from a uniform random start, one input-gradient
pass per sample instead of PGD's ``steps``.
"""

from __future__ import annotations

from labelrobust.training.methods.base import AdversarialMethod, BatchLosses
from labelrobust.training.methods.registry import METHODS


@METHODS.register("at", "Madry adversarial training: the label space's loss at the inner attack's point (PGD-10; inner: fgsm-rs for fast AT)")
class AdversarialTraining(AdversarialMethod):
    """Madry adversarial training."""

    name = "at"

    def losses(self, model, net, x, targets, labels) -> BatchLosses:
        x_adv = self.inner_point(net, x, labels, self.training_loss_objective(targets))
        outputs = model(x_adv)
        return BatchLosses(self.space.loss(outputs, targets), attacked_outputs=outputs.detach())
