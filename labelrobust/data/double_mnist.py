"""DOUBLE-MNIST: two different MNIST digits on one canvas, the data of the multi-label
robustness study (methods.md §5; ``docs/multilabel.md``).

Every sample pastes two 28×28 MNIST images of *different* digits onto a black canvas:

- ``side-by-side`` (the default): a 28×56 canvas, object 0 in columns 0–27, object 1 in 28–55;
- ``random``: a ``height``×``width`` canvas (default 56×56), the two 28×28 patches at random,
  non-overlapping places (``random_places``).

What a sample carries (``ImageSet``): ``labels`` = the digit of object 0 (the study's target);
``label_sets`` = both digits, multi-hot; ``object_masks[n, o]`` = the pixels of object o's 28×28
source patch that are non-zero, placed where the patch was pasted. The patches never overlap,
so the canvas equals each patch on its box and is 0 elsewhere, and the two masks are disjoint.

Sources: the train split pairs images of MNIST's training split, the test split images of
its test split (never mixed). Pairs are drawn with replacement: object 0 uniformly among all
images, object 1 uniformly among the images of another digit (``draw_pairs``).

Reproducibility: every draw comes from a ``torch.Generator`` seeded from ``seed`` alone (the
train split from ``2·seed``, the test split from ``2·seed + 1``, so ``n_train`` never changes the
test split): the same seed and MNIST files give bit-identical images, labels and masks.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from labelrobust.data.base import Dataset, ImageSet
from labelrobust.data.catalog import DATASETS
from labelrobust.data.mnist import _read_split
from labelrobust.errors import ConfigError, DataError
from labelrobust.validation import integer

DIGIT = 28
"""The side of an MNIST image, in pixels."""
LAYOUTS = ("side-by-side", "random")
RANDOM_CANVAS = (56, 56)
"""The default canvas (height, width) of the ``random`` layout."""


def draw_pairs(labels: Tensor, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``n`` pairs of source positions (first, second) with ``labels[first] ≠ labels[second]``.

    ``first`` is uniform over all positions; ``second`` is uniform over the positions of
    another digit, drawn by rejection: positions with the same digit are drawn again.
    """
    if torch.unique(labels).numel() < 2:
        raise DataError("double-mnist needs MNIST images of at least two different digits to pair")
    first = torch.randint(len(labels), (n,), generator=generator)
    second = torch.randint(len(labels), (n,), generator=generator)
    same = labels[first] == labels[second]
    while same.any():
        redo = same.nonzero().flatten()
        second[redo] = torch.randint(len(labels), (len(redo),), generator=generator)
        same = labels[first] == labels[second]
    return first, second


def _uniform_int(low: Tensor, high: Tensor, generator: torch.Generator) -> Tensor:
    """Per entry an integer uniform in ``[low, high]`` (inclusive)."""
    u = torch.rand(low.shape, generator=generator, dtype=torch.float64)
    return low + (u * (high - low + 1).double()).floor().long()


def random_places(n: int, height: int, width: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Top-left corners (rows N×2, cols N×2) of two non-overlapping 28×28 patches.

    Two non-overlapping boxes are always separated by a horizontal or a vertical line, so:
    a cut direction (vertical where ``width ≥ 56``, horizontal where ``height ≥ 56``; uniform
    between the two when both fit), a cut position ``c`` uniform in ``[28, L − 28]`` along that
    side of length L, a fair coin for which side holds object 0, then each patch uniform inside
    its side. Every non-overlapping placement has positive probability; the distribution is
    not uniform over placements.
    """
    axes = [axis for axis, size in ((1, width), (0, height)) if size >= 2 * DIGIT]  # 1: a vertical cut
    axis = torch.tensor(axes)[torch.randint(len(axes), (n,), generator=generator)]
    length = torch.where(axis == 1, width, height)
    across = torch.where(axis == 1, height, width)
    cut = _uniform_int(torch.full((n,), DIGIT), length - DIGIT, generator)
    swap = torch.rand(n, generator=generator) < 0.5
    zero = torch.zeros(n, dtype=torch.int64)
    along = torch.stack([
        _uniform_int(zero, cut - DIGIT, generator),  # the side before the cut
        _uniform_int(cut, length - DIGIT, generator),  # the side after it
    ], dim=1)
    along = torch.where(swap[:, None], along.flip(1), along)
    other = torch.stack([_uniform_int(zero, across - DIGIT, generator) for _ in range(2)], dim=1)
    vertical = (axis == 1)[:, None]
    return torch.where(vertical, other, along), torch.where(vertical, along, other)


def paste(patches: Tensor, rows: Tensor, cols: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Canvas N×H×W (uint8) with the N×O×28×28 ``patches`` at top-left corners ``rows``/``cols``
    (N×O, non-overlapping), and the masks N×O×H×W: each patch's non-zero pixels, placed."""
    n, objects = patches.shape[:2]
    canvas = torch.zeros(n, height, width, dtype=torch.uint8)
    masks = torch.zeros(n, objects, height, width, dtype=torch.bool)
    offsets = torch.arange(DIGIT)
    batch = torch.arange(n)[:, None, None]
    for o in range(objects):
        r = (rows[:, o, None] + offsets)[:, :, None]  # N×28×1
        c = (cols[:, o, None] + offsets)[:, None, :]  # N×1×28
        canvas[batch, r, c] = patches[:, o]
        masks[:, o][batch, r, c] = patches[:, o] != 0
    return canvas, masks


def _canvas(layout: str, height: object, width: object) -> tuple[int, int]:
    """The canvas (height, width) of ``layout``, checked."""
    if layout not in LAYOUTS:
        raise ConfigError(f"double-mnist option layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    h = integer(height, "double-mnist option height", low=DIGIT, allow_none=True)
    w = integer(width, "double-mnist option width", low=DIGIT, allow_none=True)
    if layout == "side-by-side":
        if (h, w) not in ((None, None), (DIGIT, 2 * DIGIT)):
            raise ConfigError(
                f"double-mnist layout side-by-side uses a {DIGIT}×{2 * DIGIT} canvas, got height {h}, width {w}; "
                "height and width apply to layout random"
            )
        return DIGIT, 2 * DIGIT
    h, w = h or RANDOM_CANVAS[0], w or RANDOM_CANVAS[1]
    if max(h, w) < 2 * DIGIT:
        raise ConfigError(
            f"double-mnist layout random needs room for two non-overlapping {DIGIT}×{DIGIT} digits: height or width "
            f"≥ {2 * DIGIT}, got a {h}×{w} canvas"
        )
    return h, w


def _split(source: ImageSet, n: int, layout: str, size: tuple[int, int], generator: torch.Generator) -> ImageSet:
    first, second = draw_pairs(source.labels, n, generator)
    if layout == "side-by-side":
        rows, cols = torch.zeros(n, 2, dtype=torch.int64), torch.tensor([[0, DIGIT]]).expand(n, 2)
    else:
        rows, cols = random_places(n, *size, generator)
    patches = torch.stack([source.images[first, 0], source.images[second, 0]], dim=1)
    canvas, masks = paste(patches, rows, cols, *size)
    labels = source.labels[first]
    sets = torch.zeros(n, 10, dtype=torch.bool)
    sets[torch.arange(n), labels] = True
    sets[torch.arange(n), source.labels[second]] = True
    return ImageSet(canvas.unsqueeze(1), labels, label_sets=sets, object_masks=masks)


def pixel_statistics(images: Tensor) -> tuple[float, float]:
    """Mean and standard deviation of the pixels of uint8 ``images``, in [0, 1], computed exactly
    from the histogram of the 256 values: μ = Σ h_v·v/N, σ² = Σ h_v·v²/N − μ²."""
    hist = torch.bincount(images.flatten(), minlength=256).double()
    values = torch.arange(256, dtype=torch.float64) / 255.0
    mean = float((hist * values).sum() / hist.sum())
    var = float((hist * values**2).sum() / hist.sum()) - mean**2
    return mean, max(var, 0.0) ** 0.5


def _read_mnist(root: Path, train: bool, download: bool) -> ImageSet:
    try:
        return _read_split(root, train, download)
    except DataError as error:
        raise DataError(f"double-mnist is built from MNIST, which it could not read: {error}") from None


@DATASETS.register("double-mnist", "two different MNIST digits on one canvas (side by side or at random places), multi-label, with each digit's mask")
def load_double_mnist(
    root: Path,
    download: bool,
    layout: str = "side-by-side",
    height: int | None = None,
    width: int | None = None,
    n_train: int = 10000,
    n_test: int = 2000,
    seed: int = 0,
) -> Dataset:
    """``n_train`` + ``n_test`` generated samples, uint8 N×1×H×W, classes "0".."9".

    ``layout``: ``side-by-side`` (28×56; ``height``/``width`` must be left out or 28/56) or
    ``random`` (``height``×``width``, default 56×56, one side ≥ 56). ``seed``: the generator
    seed of the pairs and places (not the run's seed). mean/std: the pixel statistics of the
    generated training split (``pixel_statistics``). Domain [0, 1].
    """
    size = _canvas(layout, height, width)
    n_train = integer(n_train, "double-mnist option n_train", low=1)
    n_test = integer(n_test, "double-mnist option n_test", low=1)
    seed = integer(seed, "double-mnist option seed", low=0)
    sources = {split: _read_mnist(root, split == "train", download) for split in ("train", "test")}
    train = _split(sources["train"], n_train, layout, size, torch.Generator().manual_seed(2 * seed))
    test = _split(sources["test"], n_test, layout, size, torch.Generator().manual_seed(2 * seed + 1))
    mean, std = pixel_statistics(train.images)
    report = {
        "layout": layout, "height": size[0], "width": size[1], "seed": seed, "train": n_train, "test": n_test,
        "sources": {split: len(images) for split, images in sources.items()},
    }
    return Dataset(
        name="double-mnist",
        class_names=tuple(str(d) for d in range(10)),
        train=train,
        test=test,
        mean=(mean,),
        std=(std,),
        report=report,
    )
