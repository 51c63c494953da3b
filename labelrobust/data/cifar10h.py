"""CIFAR-10H: human soft labels for the CIFAR-10 test set (Peterson, Battleday, Griffiths,
Russakovsky, "Human uncertainty makes classification more robust", ICCV 2019).

``cifar10h/cifar10h-counts.npy`` holds, for each of the 10,000 CIFAR-10 test images in the
original order, how many annotators chose each class; ``cifar10h-probs.npy`` is those
counts divided by their row sum. CIFAR-10H covers only the test set, so both of our splits
are cut from it: test images [0, 9000) are our train split, [9000, 10000) our test split.
Images and hard labels come from CIFAR-10's ``test_batch``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from labelrobust.data.base import Dataset, ImageSet, require_file
from labelrobust.data.catalog import DATASETS
from labelrobust.data.cifar import CIFAR10, download_cifar, read_cifar_batch, read_cifar_names
from labelrobust.errors import DataError

logger = logging.getLogger(__name__)

PROBS_FILE = Path("cifar10h") / "cifar10h-probs.npy"
COUNTS_FILE = Path("cifar10h") / "cifar10h-counts.npy"
SOURCE = "https://github.com/jcpeterson/cifar-10h (data/cifar10h-probs.npy, data/cifar10h-counts.npy)"
TRAIN_END = 9000
# Row sums of probabilities and probs == counts / row sum are checked to this tolerance.
TOLERANCE = 1e-4


def _read_matrix(path: Path, n: int) -> np.ndarray:
    """A finite real ``n``×10 array from ``path`` (no pickled objects allowed), as float64."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npy array without pickled objects ({exc})") from exc
    if array.dtype.kind not in "iuf":
        raise DataError(f"{path}: expected a real numeric array, got dtype {array.dtype}")
    if array.shape != (n, CIFAR10.num_classes):
        raise DataError(f"{path}: expected shape ({n}, {CIFAR10.num_classes}), got {array.shape}")
    array = array.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if bad.size:
        raise DataError(f"{path}: row {int(bad[0])} has a non-finite value ({bad.size} such rows)")
    return array


def _first_bad(rows: np.ndarray) -> int:
    return int(np.flatnonzero(rows)[0])


def read_cifar10h(probs_path: Path, counts_path: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The checked probability and count matrices (float64, ``n``×10).

    Checks: shapes, finiteness, probability rows in [0, 1] summing to 1, counts ≥ 0 with a
    positive row sum, and counts / row sum == probs (all to ``TOLERANCE``).
    """
    probs = _read_matrix(probs_path, n)
    counts = _read_matrix(counts_path, n)
    bad = (probs < -TOLERANCE).any(axis=1) | (np.abs(probs.sum(axis=1) - 1) > TOLERANCE)
    if bad.any():
        i = _first_bad(bad)
        raise DataError(
            f"{probs_path}: row {i} is not a probability vector (sum {probs[i].sum():.6f}, "
            f"min {probs[i].min():.6f}); expected non-negative entries summing to 1 "
            f"({int(bad.sum())} such rows)"
        )
    if (counts < 0).any():
        i = _first_bad((counts < 0).any(axis=1))
        raise DataError(f"{counts_path}: row {i} has a negative count: {counts[i].tolist()}")
    totals = counts.sum(axis=1)
    if (totals <= 0).any():
        i = _first_bad(totals <= 0)
        raise DataError(f"{counts_path}: row {i} has no annotations (all counts are 0)")
    bad = (np.abs(counts / totals[:, None] - probs) > TOLERANCE).any(axis=1)
    if bad.any():
        i = _first_bad(bad)
        raise DataError(
            f"{counts_path} and {probs_path} disagree at row {i}: counts / row sum = "
            f"{np.round(counts[i] / totals[i], 4).tolist()}, probs = {np.round(probs[i], 4).tolist()} "
            f"({int(bad.sum())} such rows)"
        )
    return probs, counts


@DATASETS.register("cifar10h", "CIFAR-10 test images with CIFAR-10H human soft labels (9,000 train / 1,000 test)")
def load_cifar10h(root: Path, download: bool) -> Dataset:
    """CIFAR-10 test images with CIFAR-10H soft labels; train = [0, 9000), test = [9000, 10000).

    ``download`` fetches CIFAR-10 only; the CIFAR-10H files must be provided.
    """
    if download:
        download_cifar(root, CIFAR10)
    probs_path = require_file("cifar10h", root, PROBS_FILE, downloadable=False, source=SOURCE)
    counts_path = require_file("cifar10h", root, COUNTS_FILE, downloadable=False, source=SOURCE)
    folder = Path(CIFAR10.folder)
    test_path = require_file("cifar10h", root, folder / CIFAR10.test_file, downloadable=True)
    meta_path = require_file("cifar10h", root, folder / CIFAR10.meta_file, downloadable=True)

    images, labels = read_cifar_batch(test_path, CIFAR10.label_key, CIFAR10.num_classes)
    class_names = read_cifar_names(meta_path, CIFAR10.names_key, CIFAR10.num_classes)
    probs, counts = read_cifar10h(probs_path, counts_path, len(labels))

    agree = int((probs.argmax(axis=1) == labels.numpy()).sum())
    annotations = counts.sum(axis=1)
    full = ImageSet(images, labels, soft_labels=torch.from_numpy(probs.astype(np.float32)))
    train = full.subset(torch.arange(TRAIN_END))
    test = full.subset(torch.arange(TRAIN_END, len(full)))
    report = {
        "rows": len(full),
        "argmax_agrees_with_cifar": agree,
        "argmax_agrees_with_cifar_percent": round(100.0 * agree / len(full), 2),
        "annotations_per_image_min": int(annotations.min()),
        "annotations_per_image_max": int(annotations.max()),
        "train": len(train),
        "test": len(test),
    }
    logger.info("cifar10h %s: %s", probs_path.parent, report)
    return Dataset(
        name="cifar10h",
        class_names=class_names,
        train=train,
        test=test,
        mean=CIFAR10.mean,
        std=CIFAR10.std,
        report=report,
    )
