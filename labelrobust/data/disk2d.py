"""The synthetic disk of the soft-label toy problem (methods.md §1, Tyrväinen et al.).

Points are uniform in a disk of radius R: radius ``R·√u`` and angle ``2πv`` for u, v
uniform in [0, 1) (the square root makes the density uniform in area). The soft label is
``[p(x), 1 − p(x)]`` with

    p(x) = (e^{1 − ‖x‖/R} − 1) / (e − 1),

which falls smoothly from 1 at the centre to 0 on the rim. The paper's formula survives only
garbled in the text we have; this is our reading of it, not a quotation. The hard label is
the rounded soft label: 0 ("centre") where p ≥ 0.5, else 1 ("rim"); the boundary is the
circle ‖x‖ = R·(1 − ln((e + 1)/2)) ≈ 0.380·R.

The data set declares its input domain ``Box(−R, R)``: the disk lies in the square
``[−R, R]²``, so attacks may move a point anywhere in that square (the corners included) but
never outside it.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from pathlib import Path

import torch

from labelrobust.data.base import Dataset, ImageSet
from labelrobust.data.catalog import DATASETS
from labelrobust.domain import Box
from labelrobust.errors import ConfigError


def centre_probability(points: torch.Tensor, radius: float) -> torch.Tensor:
    """p(x) = (e^{1 − ‖x‖/R} − 1)/(e − 1) for each row of ``points`` (N×2)."""
    r = points.norm(dim=1) / radius
    return (torch.exp(1 - r) - 1) / (math.e - 1)


def hard_boundary_radius(radius: float) -> float:
    """The radius where p = 0.5, the circle between the hard labels: R·(1 − ln((e + 1)/2))."""
    return radius * (1 - math.log((math.e + 1) / 2))


def _sample(n: int, radius: float, generator: torch.Generator) -> ImageSet:
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    v = torch.rand(n, generator=generator, dtype=torch.float64)
    r = radius * torch.sqrt(u)
    angle = 2 * math.pi * v
    points = torch.stack([r * torch.cos(angle), r * torch.sin(angle)], dim=1)
    p = centre_probability(points, radius).clamp(0, 1)
    soft = torch.stack([p, 1 - p], dim=1).to(torch.float32)
    labels = (p < 0.5).to(torch.int64)
    # Rounding to float32 must not carry a rim point past ±R (an R such as 0.1 has no exact
    # float32): clamp to the largest float32 that is ≤ R.
    limit = _float32_at_most(radius)
    return ImageSet(points.to(torch.float32).clamp_(-limit, limit), labels, soft_labels=soft)


def _float32_at_most(value: float) -> float:
    """The largest float32 number ≤ ``value`` (> 0), as a Python float."""
    f = torch.tensor(value, dtype=torch.float32)
    if float(f) > value:
        f = torch.nextafter(f, torch.tensor(0.0))
    return float(f)


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value <= 0:
        raise ConfigError(f"disk2d option {name} must be a positive integer, got {value!r}")
    return int(value)


@DATASETS.register("disk2d", "the soft-label study's 2-D disk with soft and hard labels (synthetic)")
def load_disk2d(
    root: Path,
    download: bool,
    radius: float = 1.0,
    n_train: int = 2000,
    n_test: int = 1000,
    seed: int = 0,
) -> Dataset:
    """``n_train`` + ``n_test`` points drawn with generator ``seed``; float32 N×2 inputs.

    ``root`` and ``download`` are unused: the data are generated. mean (0, 0) and std
    (R/2, R/2) are the exact per-coordinate statistics of the uniform disk (E[x₁²] = R²/4).
    The domain is ``Box(−R, R)``: every point lies in the square ``[−R, R]²``.
    """
    if isinstance(radius, bool) or not isinstance(radius, Real) or not math.isfinite(radius) or radius <= 0:
        raise ConfigError(f"disk2d option radius must be a positive finite number, got {radius!r}")
    n_train, n_test = _check_count("n_train", n_train), _check_count("n_test", n_test)
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ConfigError(f"disk2d option seed must be a non-negative integer, got {seed!r}")
    generator = torch.Generator().manual_seed(int(seed))
    train = _sample(n_train, float(radius), generator)
    test = _sample(n_test, float(radius), generator)
    report = {
        "radius": float(radius),
        "seed": int(seed),
        "train": n_train,
        "test": n_test,
        "train_centre": int((train.labels == 0).sum()),
        "test_centre": int((test.labels == 0).sum()),
    }
    return Dataset(
        name="disk2d",
        class_names=("centre", "rim"),
        train=train,
        test=test,
        mean=(0.0, 0.0),
        std=(radius / 2, radius / 2),
        report=report,
        domain=Box(-float(radius), float(radius)),
    )
