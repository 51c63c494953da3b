"""The in-memory data types every loader returns.

Images stay in the dtype the source has (uint8 for image files, float32 for synthetic
data) so that a large data set does not cost four times its size in memory; ``float_images``
converts a batch to float32 when it is used: uint8 pixels become [0, 1], float data stay as
they are. Every data set declares the box its inputs lie in (``Dataset.domain``: ``[0, 1]``
for images, ``[−R, R]`` for the disk), which attacks, clipping and input checks read.
Normalisation is not applied here: it lives inside the model (``labelrobust.models``), so
attacks always work on the raw inputs, in the domain where ``eps`` is defined.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor

from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import DataError


@dataclass(frozen=True)
class ImageSet:
    """One split: images, hard labels, optional per-sample soft labels, label sets and object masks.

    ``images``: N×C×H×W (or N×D for vector data), uint8 in 0..255 (pixels) or float32 inside
    the data set's ``domain`` ([0, 1] for images; e.g. [−R, R] for the 2-D disk).
    ``labels``: int64 of shape N, values in 0..K-1.
    ``soft_labels``: float32 N×K rows on the simplex, or None when the source has none.
    ``source_index``: int64 N, the position of each sample in the original file, so reports
    (and the soft-label survey check) can name samples the way the source does.

    Multi-label data (``double-mnist``; ``docs/multilabel.md``):

    ``label_sets``: bool N×K multi-hot, row n the set of classes present in sample n (at least
    one; ``labels[n]`` is always one of them), or None for single-label data.
    ``object_masks``: bool N×O×H×W, ``object_masks[n, o]`` the pixels of object o of sample n
    (for ``double-mnist`` O = 2: the non-zero pixels of each pasted 28×28 digit), or None.
    Convention: object 0 is the *target* and ``labels`` is its class; the other objects are
    the ones an attacker perturbs (the verifier's layered neighbourhoods grow around their masks).
    """

    images: Tensor
    labels: Tensor
    soft_labels: Tensor | None = None
    source_index: Tensor | None = None
    label_sets: Tensor | None = None
    object_masks: Tensor | None = None

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.labels.dtype != torch.int64 or self.labels.shape != (n,):
            raise DataError(
                f"labels must be int64 of shape ({n},), got {self.labels.dtype} {tuple(self.labels.shape)}"
            )
        if self.images.dtype not in (torch.uint8, torch.float32):
            raise DataError(f"images must be uint8 or float32, got {self.images.dtype}")
        if self.soft_labels is not None and (
            self.soft_labels.ndim != 2 or self.soft_labels.shape[0] != n
        ):
            raise DataError(
                f"soft_labels must be N×K with N={n}, got {tuple(self.soft_labels.shape)}"
            )
        if self.source_index is None:
            object.__setattr__(self, "source_index", torch.arange(n))
        if self.label_sets is not None:
            self._check_label_sets(n)
        if self.object_masks is not None:
            self._check_object_masks(n)

    def _check_label_sets(self, n: int) -> None:
        """Bool N×K, every row non-empty and holding its sample's hard label."""
        sets = self.label_sets
        if sets.dtype != torch.bool or sets.ndim != 2 or sets.shape[0] != n:
            raise DataError(f"label_sets must be bool N×K with N={n}, got {sets.dtype} {tuple(sets.shape)}")
        if n and (self.labels.min() < 0 or self.labels.max() >= sets.shape[1]):
            raise DataError(f"labels must lie in 0..{sets.shape[1] - 1}, the columns of label_sets")
        empty = ~sets.any(dim=1)
        if empty.any():
            raise DataError(f"label_sets rows {empty.nonzero().flatten()[:5].tolist()} are empty; every sample needs at least one class")
        outside = ~sets.gather(1, self.labels[:, None]).squeeze(1)
        if outside.any():
            raise DataError(f"labels of rows {outside.nonzero().flatten()[:5].tolist()} are not in their label_sets; the hard label must be one of the sample's classes")

    def _check_object_masks(self, n: int) -> None:
        """Bool N×O×H×W over image batches N×C×H×W."""
        masks, shape = self.object_masks, tuple(self.images.shape)
        if self.images.ndim != 4:
            raise DataError(f"object_masks need image data N×C×H×W, got images of shape {shape}")
        if masks.dtype != torch.bool or masks.ndim != 4 or masks.shape[0] != n or tuple(masks.shape[2:]) != shape[2:]:
            raise DataError(
                f"object_masks must be bool N×O×H×W with N={n}, H×W={shape[2]}×{shape[3]}, got {masks.dtype} {tuple(masks.shape)}"
            )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: Tensor) -> ImageSet:
        """The samples at ``index`` (an int64 tensor of positions, on any device), in that order."""
        index = torch.as_tensor(index, dtype=torch.int64, device=self.images.device)
        return ImageSet(
            images=self.images[index],
            labels=self.labels[index],
            soft_labels=None if self.soft_labels is None else self.soft_labels[index],
            source_index=self.source_index[index],
            label_sets=None if self.label_sets is None else self.label_sets[index],
            object_masks=None if self.object_masks is None else self.object_masks[index],
        )

    def float_images(self, index: Tensor | slice | None = None) -> Tensor:
        """Images (all, or those at ``index``) as float32, on the images' device.

        uint8 pixels are divided by 255 into [0, 1]; float32 data (vector data such as the disk)
        are returned as stored, inside the data set's ``domain`` — not rescaled to [0, 1].
        """
        if isinstance(index, Tensor):  # positions may come from another device than the images
            index = index.to(self.images.device)
        x = self.images if index is None else self.images[index]
        if x.dtype == torch.uint8:
            return x.to(torch.float32).div_(255.0)
        return x


@dataclass(frozen=True)
class Dataset:
    """A named data set with its splits and the facts a model and a report need.

    ``mean``/``std`` are per-channel statistics for the model's input normalisation.
    ``domain`` is the box ``[low, high]`` every coordinate of every input lies in (default
    ``UNIT_BOX``, [0, 1]: every image data set); attacks clip to it and check inputs against it.
    ``report`` holds what the loader found while checking its files (counts, dropped
    rows, index ranges); it is written into every run directory.
    """

    name: str
    class_names: tuple[str, ...]
    train: ImageSet
    test: ImageSet
    mean: tuple[float, ...]
    std: tuple[float, ...]
    val: ImageSet | None = None
    report: dict = field(default_factory=dict)
    domain: Box = UNIT_BOX

    def __post_init__(self) -> None:
        if not isinstance(self.domain, Box):
            raise DataError(f"dataset {self.name}: domain must be a labelrobust.domain.Box, got {self.domain!r}")
        for split, images in (("train", self.train), ("val", self.val), ("test", self.test)):
            if images is not None:
                self._check_in_domain(split, images.images)

    def _check_in_domain(self, split: str, images: Tensor) -> None:
        """A loader that declares the wrong domain fails here, not in an attack much later."""
        if images.numel() == 0:
            return
        if images.dtype == torch.uint8:  # pixels: float_images maps them onto [0, 1]
            if self.domain.low <= 0.0 and self.domain.high >= 1.0:
                return  # every uint8 image lies in such a box; no pass over a large array
            lo, hi = float(images.min()) / 255.0, float(images.max()) / 255.0
        else:
            if not torch.isfinite(images).all():
                raise DataError(f"dataset {self.name}: {split} inputs contain NaN or inf values")
            lo, hi = float(images.min()), float(images.max())
        if lo < self.domain.low or hi > self.domain.high:
            raise DataError(
                f"dataset {self.name}: {split} inputs lie in [{lo:.6g}, {hi:.6g}], outside its declared domain {self.domain}"
            )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. (1, 28, 28) or (2,)."""
        return tuple(self.train.images.shape[1:])

    @property
    def has_soft_labels(self) -> bool:
        return self.train.soft_labels is not None

    @property
    def has_label_sets(self) -> bool:
        """Whether the samples carry multi-label sets (``ImageSet.label_sets``)."""
        return self.train.label_sets is not None

    def with_splits(self, **splits: ImageSet | None) -> Dataset:
        """A copy with some of ``train``/``val``/``test`` replaced."""
        return replace(self, **splits)


DATA_ROOT_ENV = "LABELROBUST_DATA_ROOT"


def missing_data_error(
    dataset: str, path: Path, root: Path, *, downloadable: bool, source: str | None = None
) -> DataError:
    """The error for a data file that is not where a loader looks for it.

    It names the file, the data root it was looked for under, and the ways to provide it:
    ``--data-root DIR``, the ``LABELROBUST_DATA_ROOT`` variable, or ``--download`` where the
    data set can be fetched (otherwise ``source`` says where to get it by hand).
    """
    if root.is_file():
        return root_is_file_error(root)
    try:
        relative = path.relative_to(root)
    except ValueError:
        relative = path
    where = f"data root {root}" if root.is_dir() else f"data root {root}, which does not exist"
    how = (
        f"pass --data-root DIR for a folder that contains {relative}, "
        f"or set {DATA_ROOT_ENV}=DIR"
    )
    if downloadable:
        how += ", or use --download to fetch it"
    elif source:
        how += f"; it cannot be downloaded automatically, get it from {source}"
    return DataError(f"{dataset}: file {relative} not found under {where} (looked for {path}); {how}")


def root_is_file_error(root: Path, source: str = "") -> DataError:
    """The error for a data root that names a file: the root must be the folder holding the data.
    ``source`` says where the root came from (e.g. the environment variable), when not a flag."""
    return DataError(
        f"data root {root}{source} is a file, not a folder; pass --data-root DIR (or set "
        f"{DATA_ROOT_ENV}=DIR) for the folder that holds the data sets"
    )


def require_file(
    dataset: str, root: Path, relative: str | Path, *, downloadable: bool, source: str | None = None
) -> Path:
    """``root / relative`` if it is an existing file, else the ``missing_data_error``."""
    path = root / relative
    if not path.is_file():
        raise missing_data_error(dataset, path, root, downloadable=downloadable, source=source)
    return path


def format_ranges(indices: Iterable[int]) -> str:
    """Sorted integers written compactly, e.g. ``[102, 103, 104, 107]`` → ``"102-104, 107"``."""
    values = sorted({int(i) for i in indices})
    parts: list[str] = []
    start = prev = None
    for v in values:
        if prev is not None and v == prev + 1:
            prev = v
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = v
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ", ".join(parts)
