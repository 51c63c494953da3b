"""Threat models: the set of allowed perturbations, as small objects (L∞ and L2 balls).

Each knows how to draw a random start inside the ball, turn a gradient into the steepest
ascent direction for its norm, and project a perturbation back onto the ball. Clipping to the
input domain (``labelrobust.domain.Box``, [0, 1] for images) is done by the attack after
projection; a radius is checked against the domain's diameter when the attack meets its inputs.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from fractions import Fraction

import torch
from torch import Tensor

from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import ConfigError


def parse_eps(value: str | float | int) -> float:
    """A radius given as a number or a fraction such as ``"8/255"``."""
    if isinstance(value, bool):
        raise ConfigError(f"eps must be a number or a fraction like 8/255, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(Fraction(str(value).strip()))
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"eps must be a number or a fraction like 8/255, got {value!r}") from None


def _flat_norm(t: Tensor, p: float) -> Tensor:
    return t.flatten(1).norm(p=p, dim=1).view(-1, *([1] * (t.ndim - 1)))


class ThreatModel(ABC):
    """A norm ball of radius ``eps`` around the clean input, in pixel space."""

    norm: str

    def __init__(self, eps: float | str) -> None:
        eps = parse_eps(eps)
        self.check_eps(eps)
        self.eps = eps

    def check_eps(self, eps: float) -> None:
        if not math.isfinite(eps) or eps < 0:
            raise ConfigError(f"{self.norm} eps must be a finite number ≥ 0, got {eps}")

    def diameter(self, input_shape: tuple[int, ...], domain: Box = UNIT_BOX) -> float:
        """The largest distance in this norm between two inputs of ``domain^input_shape``."""
        return domain.diameter(self.norm, tuple(input_shape))

    def check_domain(self, input_shape: tuple[int, ...], domain: Box = UNIT_BOX, where: str = "eps") -> None:
        """Refuse a radius larger than the whole input domain (e.g. an L2 eps of 100 on 8×8
        images, whose L2 diameter is 8): every input would be reachable, which is never meant."""
        limit = self.diameter(tuple(input_shape), domain)
        if self.eps > limit:
            shape = "×".join(map(str, input_shape))
            hint = "; pixels are in [0, 1]: write 8/255, not 8" if self.norm == "linf" and domain == UNIT_BOX else ""
            raise ConfigError(
                f"{where} {self.eps:g} ({self.norm}) exceeds the largest {self.norm} distance between two "
                f"{shape} inputs in {domain} ({limit:g}); every input would be reachable — was eps meant for another scale?{hint}"
            )

    @abstractmethod
    def random_start(self, x: Tensor) -> Tensor:
        """A random perturbation inside the ball, shaped like ``x``."""

    @abstractmethod
    def ascent_direction(self, grad: Tensor) -> Tensor:
        """The unit-norm steepest ascent direction for this norm."""

    @abstractmethod
    def project(self, delta: Tensor) -> Tensor:
        """The closest perturbation inside the ball."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(eps={self.eps:g})"


class Linf(ThreatModel):
    """``‖δ‖∞ ≤ eps``; eps at most the input domain's width (1 for pixels), checked per input."""

    norm = "linf"

    def random_start(self, x: Tensor) -> Tensor:
        return torch.empty_like(x).uniform_(-self.eps, self.eps)

    def ascent_direction(self, grad: Tensor) -> Tensor:
        return grad.sign()

    def project(self, delta: Tensor) -> Tensor:
        return delta.clamp(-self.eps, self.eps)


class L2(ThreatModel):
    """``‖δ‖₂ ≤ eps``."""

    norm = "l2"

    def random_start(self, x: Tensor) -> Tensor:
        # Uniform in the ball: a Gaussian direction scaled by eps·U^(1/D).
        direction = torch.randn_like(x)
        direction = direction / _flat_norm(direction, 2).clamp_min(1e-12)
        d = x[0].numel()
        radius = self.eps * torch.rand(x.shape[0], device=x.device, dtype=x.dtype).pow(1.0 / d)
        return direction * radius.view(-1, *([1] * (x.ndim - 1)))

    def ascent_direction(self, grad: Tensor) -> Tensor:
        """``g/‖g‖₂``, computed on ``g/max|g|`` first: the squares of a gradient below ~1e-19
        underflow in float32, and dividing by the resulting tiny norm clamp gave a direction
        of norm ~1e-8 instead of 1 (a stalled attack on a saturated loss). A zero gradient
        stays zero."""
        peak = grad.detach().abs().flatten(1).amax(1).view(-1, *([1] * (grad.ndim - 1)))
        scaled = grad / torch.where(peak > 0, peak, torch.ones_like(peak))
        return scaled / _flat_norm(scaled, 2).clamp_min(1e-30)

    def project(self, delta: Tensor) -> Tensor:
        norms = _flat_norm(delta, 2)
        return delta * torch.clamp(self.eps / norms.clamp_min(1e-12), max=1.0)


THREAT_MODELS = {"linf": Linf, "l2": L2}


def make_threat_model(norm: str, eps: float | str) -> ThreatModel:
    """``norm`` in {linf, l2} and a radius (number or ``"8/255"``); both required."""
    if norm not in THREAT_MODELS:
        raise ConfigError(f"unknown norm {norm!r}; known: {', '.join(THREAT_MODELS)}")
    return THREAT_MODELS[norm](eps)
