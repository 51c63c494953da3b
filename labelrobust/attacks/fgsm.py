"""FGSM (Goodfellow, Shlens, Szegedy 2015): one step of size eps along the ascent direction."""

from __future__ import annotations

from torch import Tensor

from labelrobust.attacks.base import Attack
from labelrobust.attacks.registry import ATTACKS


@ATTACKS.register("fgsm", "one signed-gradient (L∞) or normalised-gradient (L2) step of size eps")
class FGSM(Attack):
    """``x + eps · sign(∇ℓ)`` (L∞) or ``x + eps · ∇ℓ/‖∇ℓ‖₂`` (L2), clipped to [0, 1]."""

    name = "fgsm"

    def run(self, model, space, x: Tensor, y: Tensor, target: Tensor | None) -> tuple[Tensor, int, Tensor | None]:
        _, _, grad = self.input_gradient(model, space, x, y, target)
        return self.clip(x, x + self.threat.eps * self.threat.ascent_direction(grad)), 1, None
