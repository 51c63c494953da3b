"""Pure functions that cut a Dataset down: class selection, class imbalance, validation
split and stratified subsets.

Each takes a Dataset (or ImageSet) and returns a new one; randomness comes only from a
``torch.Generator`` seeded with the given seed, so the same seed always gives the same
samples, whatever else the program has drawn from the global RNG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from numbers import Integral, Real

import torch
from torch import Tensor

from labelrobust.data.base import Dataset, ImageSet
from labelrobust.errors import ConfigError


def _generator(seed: int) -> torch.Generator:
    if not isinstance(seed, Integral) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return torch.Generator().manual_seed(int(seed))


def _class_index(dataset: Dataset, cls: str | int, what: str) -> int:
    """The index of ``cls`` (a class name, or an integer index) in ``dataset.class_names``."""
    names = dataset.class_names
    if isinstance(cls, bool):
        pass  # True/False are ints to Python but never a meant class
    elif isinstance(cls, Integral):
        if 0 <= int(cls) < len(names):
            return int(cls)
        raise ConfigError(
            f"{what}: class index {cls} is out of range for {dataset.name}, which has "
            f"{len(names)} classes (0..{len(names) - 1}): {', '.join(names)}"
        )
    elif isinstance(cls, str):
        matches = [i for i, n in enumerate(names) if n == cls]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ConfigError(
                f"{what}: class name {cls!r} is ambiguous in {dataset.name} (indices "
                f"{matches}); give the class by index"
            )
    raise ConfigError(
        f"{what}: unknown class {cls!r} for {dataset.name}; classes are: {', '.join(names)} "
        f"(by name, or by index 0..{len(names) - 1})"
    )


def select_classes(dataset: Dataset, classes: Sequence[str | int]) -> Dataset:
    """Keep only ``classes`` (names or indices), relabelled 0..k-1 in the given order.

    Samples whose hard label is another class are dropped. Soft labels keep only the chosen
    columns and are renormalised to sum to 1; a row with no soft mass on the chosen classes
    carries no label any more and is dropped too (counted in ``report["select_classes"]``).
    Label sets (multi-label data) keep the chosen columns; a sample whose set holds a class
    that goes is dropped, since it would show an object the classifier cannot name.
    """
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence) or not classes:
        raise ConfigError(
            f"classes must be a non-empty list of class names or indices, got {classes!r}"
        )
    kept = [_class_index(dataset, c, "classes") for c in classes]
    if len(set(kept)) != len(kept):
        raise ConfigError(f"classes lists a class twice: {list(classes)!r}")
    if len(kept) < 2:
        raise ConfigError(
            f"classes must keep at least 2 classes (a classifier needs two to choose from), got "
            f"{list(classes)!r}; add another class of {dataset.name}"
        )

    # old label -> new label, -1 for the classes that go
    mapping = torch.full((dataset.num_classes,), -1, dtype=torch.int64)
    mapping[torch.tensor(kept)] = torch.arange(len(kept))
    columns = torch.tensor(kept)
    dropped_soft: dict[str, int] = {}

    def restrict(split: ImageSet, name: str) -> ImageSet:
        keep = mapping[split.labels] >= 0
        if split.label_sets is not None:
            keep &= ~split.label_sets[:, mapping < 0].any(dim=1)
        soft = None
        if split.soft_labels is not None:
            mass = split.soft_labels[:, columns].sum(dim=1)
            no_mass = keep & (mass <= 0)
            dropped_soft[name] = int(no_mass.sum())
            keep &= ~no_mass
        index = torch.nonzero(keep).flatten()
        part = split.subset(index)
        if part.soft_labels is not None:
            restricted = part.soft_labels[:, columns]
            soft = restricted / restricted.sum(dim=1, keepdim=True)
        return ImageSet(
            images=part.images,
            labels=mapping[part.labels],
            soft_labels=soft,
            source_index=part.source_index,
            label_sets=None if part.label_sets is None else part.label_sets[:, columns],
            object_masks=part.object_masks,
        )

    splits = {"train": restrict(dataset.train, "train"), "test": restrict(dataset.test, "test")}
    splits["val"] = None if dataset.val is None else restrict(dataset.val, "val")
    report = dict(dataset.report)
    report["select_classes"] = {
        "classes": [dataset.class_names[i] for i in kept],
        "original_indices": kept,
        "sizes": {k: len(v) for k, v in splits.items() if v is not None},
        "dropped_no_soft_mass": dropped_soft,
    }
    return replace(
        dataset,
        class_names=tuple(dataset.class_names[i] for i in kept),
        train=splits["train"],
        test=splits["test"],
        val=splits["val"],
        report=report,
    )


def imbalance_classes(
    dataset: Dataset, fractions: Mapping[str | int, float], seed: int
) -> Dataset:
    """Keep a seeded random ``fractions[c]`` (0 < f ≤ 1) of class ``c`` in the train split.

    The kept count is ``f · n_c`` rounded half up, at least 1 so the class stays represented; other
    classes and the val/test splits are untouched. Kept samples stay in their original order.
    """
    if not isinstance(fractions, Mapping) or not fractions:
        raise ConfigError(f"imbalance must map class names or indices to fractions, got {fractions!r}")
    chosen: dict[int, float] = {}
    for cls, fraction in fractions.items():
        index = _class_index(dataset, cls, "imbalance")
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, Real)
            or not math.isfinite(fraction)
            or not 0 < fraction <= 1
        ):
            raise ConfigError(
                f"imbalance: fraction for class {cls!r} must be a number with 0 < f <= 1, got {fraction!r}"
            )
        if index in chosen:
            raise ConfigError(f"imbalance: class {dataset.class_names[index]!r} is given twice")
        chosen[index] = float(fraction)

    generator = _generator(seed)
    labels = dataset.train.labels
    keep = torch.ones(len(labels), dtype=torch.bool)
    summary: dict[str, dict] = {}
    for index in sorted(chosen):  # fixed order, so the generator's draws do not depend on dict order
        positions = torch.nonzero(labels == index).flatten()
        n = len(positions)
        n_keep = min(n, max(1, math.floor(chosen[index] * n + 0.5))) if n else 0
        order = torch.randperm(n, generator=generator)
        keep[positions[order[n_keep:]]] = False
        summary[dataset.class_names[index]] = {"fraction": chosen[index], "before": n, "after": n_keep}
    report = dict(dataset.report)
    report["imbalance"] = summary
    return replace(dataset, train=dataset.train.subset(torch.nonzero(keep).flatten()), report=report)


def stratified_counts(labels: Tensor, size: int) -> dict[int, int]:
    """Per-class sample counts for a stratified subset of exactly ``size`` samples.

    Class ``c`` with ``n_c`` of ``N`` samples gets ``size · n_c / N`` rounded by the largest
    remainder (Hamilton) method: every class gets the floor, and the ``size − Σ floor``
    leftover samples go to the classes with the largest fractional parts (ties: lower class
    index first). Each count is therefore within 1 of the exact proportion, except that a
    class rounded down to 0 still gets one sample (taken from the class most above its
    proportion), so that no class vanishes: with ``size ≥`` the number of classes, every
    class is represented.
    """
    classes, totals = torch.unique(labels, return_counts=True)
    n = int(totals.sum())
    quotas = [(size * int(t), int(c)) for c, t in zip(classes, totals)]  # numerators over n
    counts = {c: q // n for q, c in quotas}
    leftover = size - sum(counts.values())
    # exact integer remainders (q mod n) avoid float ties being broken by rounding noise
    by_remainder = sorted(quotas, key=lambda qc: (-(qc[0] % n), qc[1]))
    for _, c in by_remainder[:leftover]:
        counts[c] += 1
    quota = {c: q for q, c in quotas}
    for c in [c for c in counts if counts[c] == 0]:
        donors = [d for d in counts if counts[d] > 1]
        if not donors:  # size < number of classes: some class must stay empty
            break
        # the donor most above its exact share (count·n − quota, exact), lower index on ties
        donor = max(donors, key=lambda d: (counts[d] * n - quota[d], -d))
        counts[donor] -= 1
        counts[c] = 1
    return counts


def stratified_indices(labels: Tensor, size: int, seed: int, *, what: str = "subset size") -> Tensor:
    """Sorted positions of a seeded stratified sample of ``size`` of ``labels``.

    Per-class counts come from ``stratified_counts``; within each class the samples are a
    uniform random choice drawn from ``torch.Generator().manual_seed(seed)``.
    """
    total = int(labels.shape[0])
    generator = _generator(seed)
    if isinstance(size, bool) or not isinstance(size, Integral):
        raise ConfigError(f"{what} must be an integer, got {size!r}")
    if size <= 0:
        raise ConfigError(f"{what} must be positive, got {size}")
    if size > total:
        raise ConfigError(f"{what} {size} is larger than the split, which has {total} samples")
    classes = int(torch.unique(labels).numel())
    if size < classes:
        raise ConfigError(
            f"{what} {size} is smaller than the {classes} classes of the split: a stratified subset "
            f"needs at least one sample per class ({what} ≥ num_classes = {classes})"
        )
    chosen = []
    for cls, count in sorted(stratified_counts(labels, int(size)).items()):
        positions = torch.nonzero(labels == cls).flatten()
        order = torch.randperm(len(positions), generator=generator)
        chosen.append(positions[order[:count]])
    return torch.sort(torch.cat(chosen)).values


def stratified_subset(
    imageset: ImageSet, size: int, seed: int, *, what: str = "subset size"
) -> ImageSet:
    """A seeded stratified subset of exactly ``size`` samples, in their original order.

    ``what`` names the setting in error messages (e.g. ``"train_size"``).
    """
    return imageset.subset(stratified_indices(imageset.labels, size, seed, what=what))


def split_validation(dataset: Dataset, val_size: int, seed: int) -> Dataset:
    """Move a seeded stratified ``val_size`` samples of train into a new val split.

    ``val_size == 0`` returns the dataset unchanged. A dataset whose loader already provides
    a val split (e.g. the soft CIFAR-10 study split) keeps it: asking for another is an error.
    """
    if isinstance(val_size, bool) or not isinstance(val_size, Integral) or val_size < 0:
        raise ConfigError(f"val_size must be a non-negative integer, got {val_size!r}")
    if val_size == 0:
        return dataset
    if dataset.val is not None:
        raise ConfigError(
            f"{dataset.name} has a fixed validation split of {len(dataset.val)} samples; "
            f"val_size must be 0 for it, got {val_size}"
        )
    if val_size >= len(dataset.train):
        raise ConfigError(
            f"val_size {val_size} leaves no training data: the train split has "
            f"{len(dataset.train)} samples"
        )
    classes = int(torch.unique(dataset.train.labels).numel())
    if len(dataset.train) - val_size < classes:
        raise ConfigError(
            f"val_size {val_size} leaves {len(dataset.train) - val_size} training samples for {classes} "
            f"classes; the training split needs at least one sample per class "
            f"(val_size ≤ {len(dataset.train) - classes})"
        )
    val_index = stratified_indices(dataset.train.labels, int(val_size), seed, what="val_size")
    keep = torch.ones(len(dataset.train), dtype=torch.bool)
    keep[val_index] = False
    train = dataset.train.subset(torch.nonzero(keep).flatten())
    report = dict(dataset.report)
    report["val_split"] = {"val": int(val_size), "train": len(train), "seed": int(seed)}
    return replace(dataset, train=train, val=dataset.train.subset(val_index), report=report)
