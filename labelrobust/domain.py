"""The input domain a dataset declares: the box ``[low, high]^D`` every valid input lies in.

Images live in ``[0, 1]`` (``UNIT_BOX``); the soft-label study's disk lives in ``[−R, R]²``.
Threat models, clipping, random starts and input checks all read the domain instead of
assuming pixels, so an attack on the disk stays inside the disk's box.

The box is one interval for every coordinate. That is what keeps an L∞ or L2 ball a ball
when the published attack packages (which assume ``[0, 1]``) are run through the affine map
``u = (x − low)/(high − low)``: the map scales every distance by ``1/(high − low)``, so a
radius ``ε`` becomes ``ε/(high − low)`` (``to_unit_eps``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from labelrobust.errors import ConfigError


@dataclass(frozen=True)
class Box:
    """``low ≤ x_i ≤ high`` for every coordinate ``i``; ``low < high``, both finite."""

    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"input domain {name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if not self.low < self.high:
            raise ConfigError(f"input domain needs low < high, got [{self.low:g}, {self.high:g}]")

    @property
    def width(self) -> float:
        return self.high - self.low

    def diameter(self, norm: str, input_shape: tuple[int, ...]) -> float:
        """The largest ``norm`` distance between two inputs of the box (L∞: its width; L2:
        width·√D)."""
        if norm == "linf":
            return self.width
        if norm == "l2":
            return self.width * math.sqrt(math.prod(input_shape))
        raise ConfigError(f"unknown norm {norm!r}; known: linf, l2")

    def clip(self, x: Tensor) -> Tensor:
        """``x`` clamped into the box, in place, to the nearest values of ``x``'s dtype that lie
        inside it (float32 rounds 0.1 to 0.10000000149, just outside ``Box(-0.1, 0.1)``)."""
        low, high = self.representable(x.dtype)
        return x.clamp_(low, high)

    def representable(self, dtype: torch.dtype) -> tuple[float, float]:
        """The bounds as the closest values of ``dtype`` inside the box."""
        low, high = torch.tensor(self.low, dtype=dtype), torch.tensor(self.high, dtype=dtype)
        if float(low) < self.low:
            low = torch.nextafter(low, torch.tensor(math.inf, dtype=dtype))
        if float(high) > self.high:
            high = torch.nextafter(high, torch.tensor(-math.inf, dtype=dtype))
        return float(low), float(high)

    def middle(self) -> float:
        return 0.5 * (self.low + self.high)

    def check(self, x: Tensor, where: str = "inputs") -> None:
        """Refuse non-finite values and values outside the box in one line."""
        if x.numel() == 0:
            return
        if not torch.isfinite(x).all():
            raise ConfigError(f"{where} contain NaN or inf values")
        lo, hi = float(x.min()), float(x.max())
        if lo < self.low or hi > self.high:
            hint = " (pixel space; normalisation belongs inside the model)" if self == UNIT_BOX else ""
            raise ConfigError(f"{where} must lie in the input domain {self}{hint}, got values in [{lo:.4g}, {hi:.4g}]")

    def to_unit(self, x: Tensor) -> Tensor:
        return (x - self.low) / self.width

    def from_unit(self, u: Tensor) -> Tensor:
        return u * self.width + self.low

    def to_unit_eps(self, eps: float) -> float:
        return eps / self.width

    def __str__(self) -> str:
        return f"[{self.low:g}, {self.high:g}]"

    def as_dict(self) -> dict:
        return {"low": self.low, "high": self.high}


UNIT_BOX = Box(0.0, 1.0)
"""Images: every pixel in [0, 1]."""
