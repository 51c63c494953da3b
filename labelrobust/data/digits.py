"""scikit-learn's handwritten digits (``sklearn.datasets.load_digits``): 1,797 real 8×8
images of the digits 0–9 (the UCI "Optical Recognition of Handwritten Digits" test set),
shipped inside scikit-learn, so nothing is downloaded. The Quick start's default data.
"""

from __future__ import annotations

from pathlib import Path

import torch

from labelrobust.data.base import Dataset, ImageSet
from labelrobust.data.catalog import DATASETS
from labelrobust.data.subset import stratified_indices

# The split is fixed, independent of the run's seed, so every run sees the same test set.
SPLIT_SEED = 0
TEST_FRACTION = 0.2
# Pixel values are counts 0..16 (4×4 blocks of a 32×32 bitmap); divide to get [0, 1].
MAX_PIXEL = 16.0
# Mean and std over all pixels of the fixed train split (computed once from the split
# below with torch, float64, population std; recompute if the split ever changes).
MEAN = (0.3059,)
STD = (0.3765,)


@DATASETS.register("digits", "scikit-learn's 8×8 handwritten digits, shipped with scikit-learn (fixed 80/20 split)")
def load_digits(root: Path, download: bool) -> Dataset:
    """Digits as float32 N×1×8×8 in [0, 1]; a stratified 80/20 train/test split (seed 0).

    ``root`` and ``download`` are unused: the data ship with scikit-learn.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = torch.as_tensor(bunch.data, dtype=torch.float32).div_(MAX_PIXEL).reshape(-1, 1, 8, 8)
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    full = ImageSet(images, labels)
    n_test = round(TEST_FRACTION * len(full))
    test_index = stratified_indices(labels, n_test, SPLIT_SEED, what="digits test split")
    is_train = torch.ones(len(full), dtype=torch.bool)
    is_train[test_index] = False
    train = full.subset(torch.nonzero(is_train).flatten())
    test = full.subset(test_index)
    return Dataset(
        name="digits",
        class_names=tuple(str(d) for d in range(10)),
        train=train,
        test=test,
        mean=MEAN,
        std=STD,
        report={"train": len(train), "test": len(test)},
    )
