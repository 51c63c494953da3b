"""The dataset registry and ``load_dataset``: loader, then class selection, imbalance,
validation split and stratified subsets, in that order (see ``labelrobust.data.subset``).
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from labelrobust.data.base import DATA_ROOT_ENV, Dataset, root_is_file_error
from labelrobust.data.soft_label_file import attach_soft_labels, read_soft_label_file, soft_label_path
from labelrobust.data.subset import (
    imbalance_classes,
    select_classes,
    split_validation,
    stratified_subset,
)
from labelrobust.errors import ConfigError
from labelrobust.registry import Registry

logger = logging.getLogger(__name__)

Loader = Callable[..., Dataset]

# Each entry is a loader ``fn(root: Path, download: bool, **options) -> Dataset``.
DATASETS: Registry[Loader] = Registry("dataset")

# The loader parameters every loader has; everything after them is a dataset option.
_FIXED_PARAMETERS = ("root", "download")
# An option every dataset accepts: a soft-label file (labelrobust annotate export) attached right
# after the loader (labelrobust.data.soft_label_file); a loader that declares it handles it itself.
SOFT_LABELS_OPTION = "soft_labels"


def resolve_data_root(root: str | Path | None) -> Path:
    """The data root: ``root`` if given, else ``$LABELROBUST_DATA_ROOT`` if set, else ``data``.

    Existence is not checked here: each loader says which of its files is missing (data sets
    shipped with a library or generated need no root). A root that is a file is always a
    mistake, though, and is refused here with a DataError.
    """
    source = ""
    if root is not None and str(root) != "":
        path = Path(root).expanduser()
    elif os.environ.get(DATA_ROOT_ENV, ""):
        path, source = Path(os.environ[DATA_ROOT_ENV]).expanduser(), f" (from ${DATA_ROOT_ENV})"
    else:
        path, source = Path("data"), " (the default)"
    if path.is_file():
        raise root_is_file_error(path, source)
    return path


def available_datasets() -> list[str]:
    """The registered dataset names, sorted."""
    return DATASETS.available()


def dataset_options(name: str) -> dict[str, object]:
    """The options a dataset's loader accepts, with their defaults; ``soft_labels`` is always one."""
    loader = DATASETS.get(name)
    options = {
        p.name: p.default
        for p in inspect.signature(loader).parameters.values()
        if p.name not in _FIXED_PARAMETERS
        and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
    return {**options, SOFT_LABELS_OPTION: options.get(SOFT_LABELS_OPTION)}


def load_dataset(
    name: str,
    *,
    root: str | Path | None = None,
    download: bool = False,
    train_size: int | None = None,
    test_size: int | None = None,
    val_size: int = 0,
    seed: int = 0,
    classes: list[str | int] | None = None,
    imbalance: dict[str | int, float] | None = None,
    options: dict | None = None,
) -> Dataset:
    """Load dataset ``name`` and cut it as asked.

    Steps, each a function of ``labelrobust.data.subset``: ``select_classes(classes)``,
    ``imbalance_classes(imbalance, seed)`` on train, ``split_validation(val_size, seed)``,
    then ``stratified_subset`` of train to ``train_size`` and of test to ``test_size``.
    ``options`` are passed to the loader as keyword arguments, but for ``soft_labels`` (a
    file of ``labelrobust annotate export``, relative to the current directory), which every
    dataset accepts: unless the loader takes it itself (``image-folder`` matches it by file
    name), it is attached right after the loader, before the cuts
    (``labelrobust.data.soft_label_file.attach_soft_labels``).
    """
    loader = DATASETS.get(name)
    if options is not None and not isinstance(options, Mapping):
        raise ConfigError(f"options of dataset {name!r} must be a mapping of option names to values, got {options!r}")
    options = dict(options or {})
    accepted = dataset_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"for dataset {name!r}; accepted options: "
            f"{', '.join(f'{k}={v!r}' for k, v in accepted.items()) or 'none'}"
        )
    soft_labels = source = None
    if SOFT_LABELS_OPTION not in inspect.signature(loader).parameters:
        value = options.pop(SOFT_LABELS_OPTION, None)
        if value is not None:
            source = soft_label_path(value, f"option soft_labels of dataset {name!r}")
            soft_labels = read_soft_label_file(source)  # a bad file fails before a slow loader runs
    dataset = loader(resolve_data_root(root), bool(download), **options)
    if soft_labels is not None:
        dataset = attach_soft_labels(dataset, soft_labels, str(source))
        options[SOFT_LABELS_OPTION] = str(source)

    if classes is not None:
        dataset = select_classes(dataset, classes)
    if imbalance:
        dataset = imbalance_classes(dataset, imbalance, seed)
    dataset = split_validation(dataset, val_size, seed)
    if train_size is not None:
        train = stratified_subset(dataset.train, train_size, seed, what="train_size")
        dataset = dataset.with_splits(train=train)
    if test_size is not None:
        test = stratified_subset(dataset.test, test_size, seed, what="test_size")
        dataset = dataset.with_splits(test=test)

    sizes = {"train": len(dataset.train), "test": len(dataset.test)}
    if dataset.val is not None:
        sizes["val"] = len(dataset.val)
    report = dict(dataset.report)
    report["sizes"] = sizes
    report["cut"] = {
        "train_size": train_size,
        "test_size": test_size,
        "val_size": val_size,
        "seed": seed,
        "options": options,
    }
    logger.debug("loaded %s: %s", name, ", ".join(f"{k} {v}" for k, v in sizes.items()))
    return replace(dataset, report=report)

