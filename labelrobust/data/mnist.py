"""MNIST (LeCun, Bottou, Bengio, Haffner 1998), read by ``torchvision.datasets.MNIST`` from
the uncompressed IDX files in ``MNIST/raw/``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from labelrobust.data.base import Dataset, ImageSet, require_file
from labelrobust.data.catalog import DATASETS
from labelrobust.errors import DataError

RAW_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Mean and std of the 60,000 training images in [0, 1] (the values torchvision's examples use).
MEAN = (0.1307,)
STD = (0.3081,)


def _read_split(root: Path, train: bool, download: bool) -> ImageSet:
    from torchvision.datasets import MNIST

    if not download:
        # Check first so a missing file gets our message instead of torchvision's
        # "Dataset not found", which does not say where it looked.
        for name in RAW_FILES[train]:
            require_file("mnist", root, Path("MNIST") / "raw" / name, downloadable=True)
    try:
        source = MNIST(str(root), train=train, download=download)
    except (RuntimeError, OSError, ValueError, AssertionError) as exc:
        files = ", ".join(RAW_FILES[train])
        raise DataError(
            f"mnist: torchvision could not read {files} under {root / 'MNIST' / 'raw'}: {exc}; "
            "expected the uncompressed IDX files as published"
        ) from exc
    images, labels = source.data, source.targets
    if images.dtype != torch.uint8 or images.ndim != 3 or tuple(images.shape[1:]) != (28, 28):
        raise DataError(
            f"mnist: {RAW_FILES[train][0]} holds {images.dtype} images of shape "
            f"{tuple(images.shape)}, expected uint8 N×28×28"
        )
    if labels.shape != (images.shape[0],) or labels.min() < 0 or labels.max() > 9:
        raise DataError(
            f"mnist: {RAW_FILES[train][1]} must hold {images.shape[0]} labels in 0..9, "
            f"got shape {tuple(labels.shape)}"
        )
    return ImageSet(images.unsqueeze(1).contiguous(), labels.to(torch.int64))


@DATASETS.register("mnist", "MNIST handwritten digits, 1×28×28")
def load_mnist(root: Path, download: bool) -> Dataset:
    """MNIST: uint8 N×1×28×28 images, classes named "0".."9"."""
    train = _read_split(root, True, download)
    test = _read_split(root, False, download)
    return Dataset(
        name="mnist",
        class_names=tuple(str(d) for d in range(10)),
        train=train,
        test=test,
        mean=MEAN,
        std=STD,
        report={"train": len(train), "test": len(test)},
    )
