"""How PGD moves from one iterate to the next: a constant step (with optional momentum), or the
step-size schedule and momentum of APGD (Croce & Hein 2020, "Reliable evaluation of adversarial
robustness with an ensemble of diverse parameter-free attacks", Algorithm 1).

A schedule keeps one state per sample, so PGD's active set can drop samples (``keep``) and the
rest continue exactly as they would have.

APGD, as in the paper: the step starts at ``η = 2·eps``; each iterate is
``z = Π(x_k + η·dir(∇f(x_k)))``, ``x_{k+1} = Π(x_k + α(z − x_k) + (1 − α)(x_k − x_{k−1}))`` with
α = 0.75 (``x_1 = z``). At the checkpoints ``w_j = ⌈p_j·N⌉`` (``p_0 = 0``, ``p_1 = 0.22``,
``p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)``) a sample's step is halved, and it restarts
from its best point so far, when fewer than ``ρ·(w_j − w_{j−1})`` of the steps since the last
checkpoint raised the objective, or when its step was not halved at the last checkpoint and its
best value did not rise since then.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

Step = Callable[[Tensor, Tensor], Tensor]
"""``(x_clean, x_candidate) → x`` projected onto the ball around x_clean and the domain."""


def _rows(t: Tensor, like: Tensor) -> Tensor:
    return t.view(-1, *([1] * (like.ndim - 1)))


def apgd_checkpoints(steps: int) -> list[int]:
    """The step indices at which APGD may halve its step (paper, §3.1)."""
    p = [0.0, 0.22]
    while p[-1] < 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    # round before ceil: 0.41 + 0.16 is 0.5700000000000001 in floating point, which ceil would
    # turn into checkpoint 58 of 100 instead of the paper's (and the package's) 57
    marks = (math.ceil(round(q * steps, 9)) for q in p[1:])
    return sorted({w for w in marks if w < steps})


class ConstantSchedule:
    """``x ← Π(x + α·dir(g))`` with ``g ← μ·g + ∇/mean|∇|`` (MI-FGSM, Dong et al. 2018; μ = 0 is
    plain PGD)."""

    def __init__(self, x: Tensor, step_size: float, momentum: float) -> None:
        self.step_size, self.momentum = step_size, momentum
        self.velocity = torch.zeros_like(x) if momentum else None

    def observe(self, step: int, value: Tensor, x_adv: Tensor) -> None:
        """Constant steps do not depend on the objective."""

    def keep(self, mask: Tensor) -> None:
        if self.velocity is not None:
            self.velocity = self.velocity[mask]

    def step(self, x: Tensor, x_adv: Tensor, grad: Tensor, direction: Callable[[Tensor], Tensor], project: Step) -> Tensor:
        with torch.no_grad():
            if self.velocity is not None:
                scale = _rows(grad.abs().flatten(1).mean(1).clamp_min(1e-12), grad)
                self.velocity = self.momentum * self.velocity + grad / scale
                grad = self.velocity
            return project(x, x_adv + self.step_size * direction(grad))


class APGDSchedule:
    """APGD's step-size halving with restarts from the best point, and its momentum."""

    ALPHA = 0.75

    def __init__(self, x: Tensor, initial_step: float, steps: int, rho: float) -> None:
        n = len(x)
        self.rho = rho
        self.checkpoints = apgd_checkpoints(steps)
        self.eta = torch.full((n,), float(initial_step), device=x.device, dtype=x.dtype)
        self.best_value = torch.full((n,), float("-inf"), device=x.device)
        self.best_x = x.clone()
        self.previous_value = torch.full((n,), float("-inf"), device=x.device)
        self.improved = torch.zeros(n, dtype=torch.int64, device=x.device)
        self.eta_at_checkpoint = self.eta.clone()
        self.best_at_checkpoint = self.best_value.clone()
        self.previous_x: Tensor | None = None
        self.restart = torch.zeros(n, dtype=torch.bool, device=x.device)
        self.reduced = torch.ones(n, dtype=torch.bool, device=x.device)
        self.last_checkpoint = 0

    def observe(self, step: int, value: Tensor, x_adv: Tensor) -> None:
        with torch.no_grad():
            value = torch.nan_to_num(value.float(), nan=float("-inf"))
            if step > 0:
                self.improved += (value > self.previous_value).long()
            self.previous_value = value
            better = value > self.best_value
            self.best_value = torch.where(better, value, self.best_value)
            self.best_x[better] = x_adv[better]
            self.restart.zero_()
            if step in self.checkpoints:
                self._checkpoint(step)

    def _checkpoint(self, step: int) -> None:
        span = step - self.last_checkpoint
        few = self.improved < self.rho * span
        # condition 2: the step was not just halved and the best value did not rise since the
        # last checkpoint (a step halved at the last checkpoint gets one window to work)
        stuck = ~self.reduced & (self.best_value <= self.best_at_checkpoint)
        halve = few | stuck
        self.eta = torch.where(halve, self.eta / 2, self.eta)
        self.restart = halve
        self.reduced = halve
        self.eta_at_checkpoint, self.best_at_checkpoint = self.eta.clone(), self.best_value.clone()
        self.improved.zero_()
        self.last_checkpoint = step

    def keep(self, mask: Tensor) -> None:
        for name in ("eta", "best_value", "best_x", "previous_value", "improved", "eta_at_checkpoint", "best_at_checkpoint", "restart", "reduced"):
            setattr(self, name, getattr(self, name)[mask])
        if self.previous_x is not None:
            self.previous_x = self.previous_x[mask]

    def step(self, x: Tensor, x_adv: Tensor, grad: Tensor, direction: Callable[[Tensor], Tensor], project: Step) -> Tensor:
        with torch.no_grad():
            z = project(x, x_adv + _rows(self.eta, x_adv) * direction(grad))
            if self.previous_x is None:
                new = z
            else:
                new = project(x, x_adv + self.ALPHA * (z - x_adv) + (1 - self.ALPHA) * (x_adv - self.previous_x))
            self.previous_x = x_adv.clone()
            if self.restart.any():
                new[self.restart] = self.best_x[self.restart]
                self.previous_x[self.restart] = self.best_x[self.restart]
            return new
