"""``toy3``: the 3-class 2-D toy of the WPGD study (methods.md §4, Terzi, Susto, Chaudhari).

The study only says "a 3-class 2-D toy"; this geometry is ours. Three curved sectors of the
disk of radius R = 1 that meet at the origin, so that every pair of classes shares a boundary:

* a clean point has polar coordinates ``r = R·√u`` (uniform in area) and angle
  ``θ = 2π(k + v)/3 − twist·r/R`` for its class ``k`` and u, v uniform in [0, 1): class k is
  the sector ``2πk/3 ≤ θ + twist·r/R < 2π(k + 1)/3`` (mod 2π), whose edges are the three
  spirals ``θ = 2πj/3 − twist·r/R`` (straight rays for ``twist = 0``). The boundary between
  classes k and k+1 (mod 3) is the spiral with ``j = k + 1``; each pair shares one spiral arm.
* the point is then moved by isotropic Gaussian noise of standard deviation ``noise`` (its label
  stays: near a boundary the classes overlap) and clamped into the domain box.

Classes are exactly balanced: sample ``i`` belongs to class ``i mod 3`` before a seeded
shuffle, so each class has ``n/3`` points (± 1). The class names are ``a``, ``b``, ``c`` (indices
0, 1, 2). The input domain is ``Box(−1.2, 1.2)``: the disk plus a margin for the noise, so an
attack may move a point anywhere in the square ``[−1.2, 1.2]²`` but never outside it. The
data support (where ``in_support`` holds) is the disk of radius R.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from pathlib import Path

import torch
from torch import Tensor

from labelrobust.data.base import Dataset, ImageSet
from labelrobust.data.catalog import DATASETS
from labelrobust.domain import Box
from labelrobust.errors import ConfigError

RADIUS = 1.0
"""The radius of the disk the clean points fill."""

DOMAIN = Box(-1.2, 1.2)
"""The input domain: the disk with a margin of 0.2 for the noise."""

CLASS_NAMES = ("a", "b", "c")


def in_support(points: Tensor) -> Tensor:
    """Which rows of ``points`` (N×2) lie in the disk of radius R, where the clean data lie."""
    return points.norm(dim=1) <= RADIUS


def sector_labels(points: Tensor, twist: float) -> Tensor:
    """The class of each noise-free point: the sector of ``θ + twist·r/R`` (see the module doc)."""
    r = points.norm(dim=1)
    theta = torch.atan2(points[:, 1], points[:, 0]) + twist * r / RADIUS
    return torch.floor(torch.remainder(theta, 2 * math.pi) / (2 * math.pi / 3)).long().clamp_(0, 2)


def _sample(n: int, twist: float, noise: float, generator: torch.Generator) -> ImageSet:
    labels = torch.arange(n) % 3
    labels = labels[torch.randperm(n, generator=generator)]
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    v = torch.rand(n, generator=generator, dtype=torch.float64)
    r = RADIUS * torch.sqrt(u)
    theta = 2 * math.pi * (labels + v) / 3 - twist * r / RADIUS
    points = torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1)
    points += noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    low, high = DOMAIN.representable(torch.float32)
    return ImageSet(points.to(torch.float32).clamp_(low, high), labels.to(torch.int64))


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 3:
        raise ConfigError(f"toy3 option {name} must be an integer ≥ 3 (one point per class), got {value!r}")
    return int(value)


def _number(name: str, value: object, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or not 0 <= value <= high:
        raise ConfigError(f"toy3 option {name} must be a number in [0, {high:g}], got {value!r}")
    return float(value)


@DATASETS.register("toy3", "the WPGD study's 3-class 2-D toy: three curved sectors of a disk, each pair sharing a boundary (synthetic)")
def load_toy3(
    root: Path,
    download: bool,
    n_train: int = 600,
    n_test: int = 600,
    noise: float = 0.03,
    twist: float = 2.0,
    seed: int = 0,
) -> Dataset:
    """``n_train`` + ``n_test`` points drawn with generator ``seed``; float32 N×2 inputs.

    ``noise``: the standard deviation of the Gaussian jitter (0 ≤ noise ≤ 0.2, the domain's
    margin). ``twist``: how far (radians) the sector edges turn between the centre and the rim
    (0 ≤ twist ≤ 2π; 0: straight rays). ``root`` and ``download`` are unused. mean (0, 0) and
    std (R/2, R/2) are the per-coordinate statistics of the uniform disk, without the noise.
    """
    n_train, n_test = _count("n_train", n_train), _count("n_test", n_test)
    noise = _number("noise", noise, 0.2)
    twist = _number("twist", twist, 2 * math.pi)
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ConfigError(f"toy3 option seed must be a non-negative integer, got {seed!r}")
    generator = torch.Generator().manual_seed(int(seed))
    train = _sample(n_train, twist, noise, generator)
    test = _sample(n_test, twist, noise, generator)
    report = {
        "seed": int(seed),
        "noise": noise,
        "twist": twist,
        "train": n_train,
        "test": n_test,
        "train_per_class": torch.bincount(train.labels, minlength=3).tolist(),
        "test_per_class": torch.bincount(test.labels, minlength=3).tolist(),
    }
    return Dataset(
        name="toy3",
        class_names=CLASS_NAMES,
        train=train,
        test=test,
        mean=(0.0, 0.0),
        std=(RADIUS / 2, RADIUS / 2),
        report=report,
        domain=DOMAIN,
    )
