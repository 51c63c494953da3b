"""PGD (Madry et al. 2018) with random start, restarts, momentum, targets, and an active set.

Each step: ``g ← μ·g + ∇/mean|∇|`` (momentum μ, as in MI-FGSM, Dong et al. 2018; μ = 0 is
plain PGD), ``x ← Π(x + α · dir(g))`` with ``dir`` the threat model's steepest ascent direction
and ``Π`` the projection onto the ball and [0, 1].

Active set: the outputs of every forward pass show which samples already succeed; those are
frozen at their successful point and leave the batch, so later steps and restarts spend
compute only on samples still standing (``early_stop=False`` keeps full trajectories and
returns the point with the best objective instead). Restarts begin from a fresh random start.
"""

from __future__ import annotations

import torch
from torch import Tensor

from labelrobust.attacks.base import Attack
from labelrobust.attacks.objectives import Objective
from labelrobust.attacks.registry import ATTACKS
from labelrobust.attacks.threat import ThreatModel
from labelrobust.errors import ConfigError
from labelrobust.labels import LabelSpace


@ATTACKS.register("pgd", "projected gradient descent: steps, restarts, momentum, targets, any objective")
class PGD(Attack):
    """Parameters: ``steps`` (default 10), ``step_size`` α (default 2.5·eps/steps, Madry et al.),
    ``restarts`` (default 1), ``random_start`` (default True), ``momentum`` μ in [0, 1)
    (default 0), ``early_stop`` (default True: the active set), ``objective`` (default ``loss``)."""

    name = "pgd"

    def __init__(
        self,
        threat: ThreatModel,
        objective: str = "loss",
        steps: int = 10,
        step_size: float | None = None,
        restarts: int = 1,
        random_start: bool = True,
        momentum: float = 0.0,
        early_stop: bool = True,
    ) -> None:
        super().__init__(threat, objective)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"{self.name}: steps must be an integer ≥ 1, got {steps!r}")
        if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 1:
            raise ConfigError(f"{self.name}: restarts must be an integer ≥ 1, got {restarts!r}")
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"{self.name}: momentum must lie in [0, 1), got {momentum}")
        self.steps, self.restarts = steps, restarts
        self.step_size = 2.5 * threat.eps / steps if step_size is None else float(step_size)
        if self.step_size <= 0 and threat.eps > 0:
            raise ConfigError(f"{self.name}: step_size must be > 0, got {self.step_size}")
        self.random_start, self.momentum, self.early_stop = random_start, momentum, early_stop

    def run(self, model, space, x: Tensor, y: Tensor, target: Tensor | None) -> tuple[Tensor, int, Tensor]:
        best = x.clone()
        best_pred = torch.empty(len(x), dtype=torch.int64, device=x.device)
        best_value = torch.full((len(x),), float("-inf"), device=x.device)
        done = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        steps_spent = 0
        for restart in range(self.restarts):
            active = (~done).nonzero().flatten() if self.early_stop else torch.arange(len(x), device=x.device)
            if len(active) == 0:
                break
            xa, ya = x[active], y[active]
            ta = None if target is None else target[active]
            x_adv = self.start(xa)
            velocity = torch.zeros_like(xa) if self.momentum else None
            for step in range(self.steps + 1):
                last = step == self.steps
                if last:  # the last forward pass only scores the final iterate: no gradient needed
                    with torch.no_grad():
                        outputs = model(x_adv)
                        value, grad = self.objective(space, outputs, ya, ta), None
                else:
                    outputs, value, grad = self.input_gradient(model, space, x_adv, ya, ta)
                    steps_spent += 1
                with torch.no_grad():
                    pred = space.decode(outputs)
                    won = pred != ya if ta is None else pred == ta
                    # keep the best point per sample: a success beats any objective value; the
                    # first point seen is kept even when its objective is -inf or NaN
                    score = torch.where(won, torch.full_like(value, float("inf")), value)
                    better = (score > best_value[active]) | (restart == 0 and step == 0)
                    best[active[better]] = x_adv[better]
                    best_pred[active[better]] = pred[better]
                    best_value[active[better]] = score[better]
                    if self.early_stop:
                        done[active[won]] = True
                    if last:
                        break
                    if self.early_stop:
                        keep = ~won
                        if not keep.any():
                            break
                        if not keep.all():
                            active, xa, ya, x_adv, grad = active[keep], xa[keep], ya[keep], x_adv[keep], grad[keep]
                            ta = None if ta is None else ta[keep]
                            velocity = None if velocity is None else velocity[keep]
                    x_adv, velocity = self.step(xa, x_adv, grad, velocity)
        return best, steps_spent, best_pred

    def start(self, x: Tensor) -> Tensor:
        """The first iterate: a uniform random point of the ball (clipped to [0, 1]), or ``x``."""
        return self.clip(x, x + self.threat.random_start(x)) if self.random_start else x.clone()

    def step(self, x: Tensor, x_adv: Tensor, grad: Tensor, velocity: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """One ascent step from ``x_adv`` along ``grad`` (through the momentum ``velocity`` when
        μ > 0), projected back onto the ball around ``x`` and [0, 1]."""
        with torch.no_grad():
            if velocity is not None:
                scale = grad.abs().flatten(1).mean(1).clamp_min(1e-12).view(-1, *([1] * (grad.ndim - 1)))
                velocity = self.momentum * velocity + grad / scale
                grad = velocity
            return self.clip(x, x_adv + self.step_size * self.threat.ascent_direction(grad)), velocity

    def trajectory_end(self, model: torch.nn.Module, space: LabelSpace, x: Tensor, y: Tensor, objective: Objective | None = None) -> Tensor:
        """The last iterate of ``steps`` PGD steps from the (random) start, for every sample.

        This is the inner maximisation of adversarial training (Madry et al. 2018 train on the
        final PGD iterate): no active set, no restarts, no scoring of iterates, no input
        validation (the training loop's data is already checked), so it costs exactly ``steps``
        forward+input-gradient passes. ``objective`` (same signature as the registered ones)
        replaces the attack's own, e.g. TRADES' KL to the clean prediction.
        """
        x = x.detach()
        x_adv = self.start(x)
        velocity = torch.zeros_like(x) if self.momentum else None
        for _ in range(self.steps):
            _, _, grad = self.input_gradient(model, space, x_adv, y, None, objective)
            x_adv, velocity = self.step(x, x_adv, grad, velocity)
        return x_adv


@ATTACKS.register("cw", "CW-L∞: PGD on the margin of the class scores")
class CarliniWagnerLinf(PGD):
    """CW-L∞ as used in robustness evaluations (Carlini & Wagner 2017; Madry et al.): PGD on the
    margin ``max_{j≠y} s_j − s_y`` of the label space's scores."""

    name = "cw"

    def __init__(self, threat: ThreatModel, steps: int = 30, **kwargs) -> None:
        kwargs.setdefault("objective", "margin")
        super().__init__(threat, steps=steps, **kwargs)
