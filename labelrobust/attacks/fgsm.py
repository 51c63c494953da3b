"""FGSM (Goodfellow, Shlens, Szegedy 2015) and FGSM with a random start (Wong, Rice, Kolter
2020, "Fast is better than free: revisiting adversarial training").

One step along the threat model's steepest ascent direction: ``x + α·sign(∇ℓ)`` (L∞) or
``x + α·∇ℓ/‖∇ℓ‖₂`` (L2), projected onto the ball and the input domain. FGSM starts at ``x``
with ``α = eps``; FGSM-RS starts at a uniform random point of the ball with ``α = 1.25·eps``
(Wong et al.'s setting), the inner step of "fast" adversarial training.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from labelrobust.attacks.base import GradientAttack, Search, step_size_value
from labelrobust.attacks.objectives import Objective
from labelrobust.attacks.registry import ATTACKS
from labelrobust.attacks.threat import ThreatModel
from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import ConfigError


@ATTACKS.register("fgsm", "one signed-gradient (L∞) or normalised-gradient (L2) step of size eps")
class FGSM(GradientAttack):
    """Parameters: ``objective`` (default ``loss``), ``step_size`` α (default eps; 1.25·eps
    with a random start), ``random_start`` (default False)."""

    name = "fgsm"
    default_random_start: ClassVar[bool] = False

    def __init__(self, threat: ThreatModel, objective: str | None = None, step_size: float | None = None, random_start: bool | None = None) -> None:
        super().__init__(threat, objective)
        self.random_start = self.default_random_start if random_start is None else random_start
        if not isinstance(self.random_start, bool):
            raise ConfigError(f"{self.name}: random_start must be true or false, got {random_start!r}")
        default = 1.25 * threat.eps if self.random_start else threat.eps
        self.step_size = default if step_size is None else step_size_value(step_size, self.name, threat.eps)

    def budget(self) -> dict:
        return {"steps": 1, "restarts": 1, "step_size": self.step_size, "random_start": self.random_start}

    def start(self, x: Tensor, domain: Box) -> Tensor:
        return self.clip(x, x + self.threat.random_start(x), domain) if self.random_start else x

    def run(self, model, space, x: Tensor, y: Tensor, target: Tensor | None, domain: Box) -> Search:
        start = self.start(x, domain)
        _, _, grad = self.input_gradient(model, space, start, y, target)
        return Search(self._step(x, start, grad, domain))

    def maximize(self, model, space, x: Tensor, y: Tensor, objective: Objective | None = None, domain: Box = UNIT_BOX) -> Tensor:
        x = x.detach()
        start = self.start(x, domain)
        _, _, grad = self.input_gradient(model, space, start, y, None, objective)
        return self._step(x, start, grad, domain)

    def _step(self, x: Tensor, start: Tensor, grad: Tensor, domain: Box) -> Tensor:
        with torch.no_grad():
            return self.clip(x, start + self.step_size * self.threat.ascent_direction(grad), domain)


@ATTACKS.register("fgsm-rs", "FGSM from a uniform random start, step 1.25·eps (Wong et al. 2020, fast AT)")
class FGSMRandomStart(FGSM):
    __doc__ = FGSM.__doc__ + "\n    Random start on by default (fast adversarial training's inner step)."
    name = "fgsm-rs"
    default_random_start = True
