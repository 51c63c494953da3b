"""Input sets the verifier reasons about: boxes ``lower ≤ x' ≤ upper`` in the input domain.

- ``linf_ball(x, eps)``: ``{x' : ‖x' − x‖∞ ≤ ε} ∩ [0, 1]^D`` (or the data set's domain).
- ``layered_neighbourhood(x, mask, eps)``: the multi-label study's set (methods.md §5). With
  ``P`` the pixels of the perturbed object (``mask``), **layer d** holds the pixels at
  Chebyshev distance exactly d from P, ``d(p, P) = min_{q ∈ P} max(|p_row − q_row|,
  |p_col − q_col|)`` (so layer 0 is the object itself and layer d is the ring of pixels d
  steps away, diagonals included). Pixel p of layer d may move by ``|x'_p − x_p| ≤ ε_d``
  in every channel; pixels beyond the last layer r = len(eps) − 1 are **fixed** at their
  clean value. The study writes ``< ε_d``; the verifier uses the closed box ``≤ ε_d`` (the
  MILP needs closed sets; the closed set contains the open one, so robust here ⇒ robust
  there). The box is intersected with the domain.

Every set is a ``Box`` of float64 bounds over the flattened input, plus its center (the
clean input) and a description for reports and VNN-LIB export.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import ConfigError
from labelrobust.validation import number

DTYPE = torch.float64


@dataclass(frozen=True, eq=False)
class InputSet:
    """``lower ≤ x' ≤ upper`` elementwise over the flattened input (float64, length D)."""

    lower: Tensor
    upper: Tensor
    center: Tensor
    shape: tuple[int, ...]
    description: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        d = math.prod(self.shape)
        for name in ("lower", "upper", "center"):
            value = getattr(self, name)
            if value.shape != (d,):
                raise ConfigError(f"input set {name} must be a flat vector of {d} values for inputs of shape {self.shape}, got shape {tuple(value.shape)}")
            if not torch.isfinite(value).all():
                raise ConfigError(f"input set {name} contains NaN or inf")
        if (self.lower > self.upper).any():
            first = int((self.lower > self.upper).nonzero()[0])
            raise ConfigError(f"input set is empty: lower > upper at input {first}")
        if ((self.center < self.lower) | (self.center > self.upper)).any():
            raise ConfigError("input set center lies outside its bounds")

    @property
    def size(self) -> int:
        return self.lower.numel()

    @property
    def free(self) -> Tensor:
        """Boolean mask of the inputs that may move (lower < upper)."""
        return self.lower < self.upper

    def contains(self, x: Tensor, tolerance: float = 0.0) -> Tensor:
        """Per row of ``x`` (N×D): whether it lies in the set (up to ``tolerance``)."""
        x = x.to(DTYPE).reshape(x.shape[0], -1)
        return ((x >= self.lower - tolerance) & (x <= self.upper + tolerance)).all(dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` points drawn uniformly from the box (N×D float64)."""
        u = torch.rand((n, self.size), dtype=DTYPE, generator=generator)
        return self.lower + u * (self.upper - self.lower)

    def vertices(self, limit: int = 4096) -> Tensor:
        """Every vertex of the box (2^free rows); refused above ``limit`` vertices."""
        free = self.free.nonzero().flatten()
        if 2 ** len(free) > limit:
            raise ConfigError(f"the box has {len(free)} free inputs, 2^{len(free)} vertices exceed the limit {limit}")
        bits = ((torch.arange(2 ** len(free))[:, None] >> torch.arange(len(free))[None]) & 1).bool()
        points = self.center.repeat(len(bits), 1)
        points[:, free] = torch.where(bits, self.upper[free], self.lower[free])
        return points


def check_point(x: Tensor, domain: Box, what: str = "input") -> Tensor:
    """``x`` as a flat float64 vector after checking it is finite and inside ``domain``."""
    if not isinstance(x, Tensor):
        raise ConfigError(f"{what} must be a tensor, got {type(x).__name__}")
    flat = x.detach().to("cpu", DTYPE).flatten()
    if not torch.isfinite(flat).all():
        raise ConfigError(f"{what} contains NaN or inf values")
    lo, hi = float(flat.min()), float(flat.max())
    if lo < domain.low or hi > domain.high:
        raise ConfigError(f"{what} lies in [{lo:.6g}, {hi:.6g}], outside the input domain {domain}; the verifier's sets must lie in the domain")
    return flat


def linf_ball(x: Tensor, eps: float, domain: Box = UNIT_BOX) -> InputSet:
    """The L∞ ball of radius ``eps`` around ``x`` (shape C×H×W or D), clipped to ``domain``."""
    eps = number(eps, "eps", low=0.0)
    center = check_point(x, domain)
    lower = (center - eps).clamp_min(domain.low)
    upper = (center + eps).clamp_max(domain.high)
    return InputSet(lower, upper, center, tuple(x.shape), {"kind": "linf", "eps": eps})


def chebyshev_layers(mask: Tensor) -> Tensor:
    """Per pixel of the H×W ``mask``, its Chebyshev distance to the nearest mask pixel (int64).

    Computed by repeated 3×3 dilation: after d dilations the mask covers exactly the pixels
    at distance ≤ d, because one 3×3 step moves at most one row and one column.
    """
    if mask.ndim != 2:
        raise ConfigError(f"object mask must be H×W, got shape {tuple(mask.shape)}")
    covered = mask.to(torch.bool)
    if not covered.any():
        raise ConfigError("object mask is empty: the perturbed object has no pixels, so it has no layered neighbourhood")
    distance = torch.full(mask.shape, -1, dtype=torch.int64)
    distance[covered] = 0
    d = 0
    while not covered.all():
        d += 1
        grown = F.max_pool2d(covered[None, None].to(DTYPE), 3, stride=1, padding=1)[0, 0] > 0
        distance[grown & ~covered] = d
        covered = grown
    return distance


def layered_neighbourhood(x: Tensor, mask: Tensor, eps: Sequence[float], domain: Box = UNIT_BOX) -> InputSet:
    """The layered neighbourhood of ``x`` (C×H×W) around the object ``mask`` (H×W bool) with
    one radius per layer, ``eps = (ε_0 … ε_r)``; pixels farther than r are fixed."""
    if x.ndim != 3:
        raise ConfigError(f"a layered neighbourhood needs an image C×H×W, got shape {tuple(x.shape)}")
    if tuple(mask.shape) != tuple(x.shape[1:]):
        raise ConfigError(f"object mask has shape {tuple(mask.shape)}, the image's pixels are {tuple(x.shape[1:])}")
    radii = layer_radii(eps)
    distance = chebyshev_layers(mask)
    deepest = int(distance.max())
    if len(radii) > deepest + 1:
        raise ConfigError(f"eps has {len(radii)} layers but the image has only {deepest + 1} (distances 0..{deepest} from the object); give at most {deepest + 1} radii")
    per_pixel = torch.zeros(mask.shape, dtype=DTYPE)
    for d, radius in enumerate(radii):
        per_pixel[distance == d] = radius
    per_input = per_pixel.expand(x.shape[0], -1, -1).flatten()
    center = check_point(x, domain)
    lower = (center - per_input).clamp_min(domain.low)
    upper = (center + per_input).clamp_max(domain.high)
    sizes = [int((distance == d).sum()) for d in range(len(radii))]
    return InputSet(lower, upper, center, tuple(x.shape), {"kind": "layered", "eps": list(radii), "layer_pixels": sizes})


def layer_radii(eps: Sequence[float]) -> tuple[float, ...]:
    """``eps`` as a tuple of finite radii ≥ 0, at least one."""
    if isinstance(eps, (str, bytes)) or not isinstance(eps, Sequence) and not isinstance(eps, Tensor):
        raise ConfigError(f"eps must be a list of per-layer radii (ε_0, …, ε_r), got {eps!r}")
    values = eps.tolist() if isinstance(eps, Tensor) else list(eps)
    if not values:
        raise ConfigError("eps must hold at least one radius (layer 0, the object itself)")
    return tuple(number(v, f"eps of layer {d}", low=0.0) for d, v in enumerate(values))
