"""Threat models: the set of allowed perturbations, as small objects (L∞ and L2 balls).

Each knows how to draw a random start inside the ball, turn a gradient into the steepest
ascent direction for its norm, and project a perturbation back onto the ball. Clipping to the
image domain [0, 1] is done by the attack after projection.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from fractions import Fraction

import torch
from torch import Tensor

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

    @abstractmethod
    def diameter(self, input_shape: tuple[int, ...]) -> float:
        """The largest distance in this norm between two inputs of ``[0, 1]^input_shape``."""

    def check_domain(self, input_shape: tuple[int, ...], where: str = "eps") -> None:
        """Refuse a radius larger than the whole input domain (e.g. an L2 eps of 100 on 8×8
        images, whose L2 diameter is 8): every input would be reachable, which is never meant."""
        limit = self.diameter(tuple(input_shape))
        if self.eps > limit:
            shape = "×".join(map(str, input_shape))
            raise ConfigError(
                f"{where} {self.eps:g} ({self.norm}) exceeds the largest {self.norm} distance between two "
                f"{shape} inputs in [0, 1] ({limit:g}); every input would be reachable — was eps meant for another scale?"
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
    """``‖δ‖∞ ≤ eps``; eps must lie in [0, 1] because pixels do."""

    norm = "linf"

    def check_eps(self, eps: float) -> None:
        if not math.isfinite(eps) or not 0.0 <= eps <= 1.0:
            raise ConfigError(f"L∞ eps must lie in [0, 1] (pixels are in [0, 1]; write 8/255, not 8), got {eps:g}")

    def diameter(self, input_shape: tuple[int, ...]) -> float:
        return 1.0

    def random_start(self, x: Tensor) -> Tensor:
        return torch.empty_like(x).uniform_(-self.eps, self.eps)

    def ascent_direction(self, grad: Tensor) -> Tensor:
        return grad.sign()

    def project(self, delta: Tensor) -> Tensor:
        return delta.clamp(-self.eps, self.eps)


class L2(ThreatModel):
    """``‖δ‖₂ ≤ eps``."""

    norm = "l2"

    def diameter(self, input_shape: tuple[int, ...]) -> float:
        return math.sqrt(math.prod(input_shape))

    def random_start(self, x: Tensor) -> Tensor:
        # Uniform in the ball: a Gaussian direction scaled by eps·U^(1/D).
        direction = torch.randn_like(x)
        direction = direction / _flat_norm(direction, 2).clamp_min(1e-12)
        d = x[0].numel()
        radius = self.eps * torch.rand(x.shape[0], device=x.device, dtype=x.dtype).pow(1.0 / d)
        return direction * radius.view(-1, *([1] * (x.ndim - 1)))

    def ascent_direction(self, grad: Tensor) -> Tensor:
        return grad / _flat_norm(grad, 2).clamp_min(1e-12)

    def project(self, delta: Tensor) -> Tensor:
        norms = _flat_norm(delta, 2)
        return delta * torch.clamp(self.eps / norms.clamp_min(1e-12), max=1.0)


THREAT_MODELS = {"linf": Linf, "l2": L2}


def make_threat_model(norm: str, eps: float | str) -> ThreatModel:
    """``norm`` in {linf, l2} and a radius (number or ``"8/255"``); both required."""
    if norm not in THREAT_MODELS:
        raise ConfigError(f"unknown norm {norm!r}; known: {', '.join(THREAT_MODELS)}")
    return THREAT_MODELS[norm](eps)
