"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009, "Learning Multiple Layers of Features from Tiny
Images"), read from the "python version" pickle batches.

We read the batches ourselves instead of through ``torchvision.datasets.CIFAR10`` because
torchvision checks each file's MD5 and rejects copies that are complete but re-encoded (the
shared test copy), and because its reader calls plain ``pickle.load``. Each batch is a dict
with ``data`` (uint8 N×3072, channel-major 3×32×32) and the labels; it is read with the
restricted unpickler, which admits only the numpy globals that rebuild arrays.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from labelrobust.data.base import Dataset, ImageSet, require_file
from labelrobust.data.catalog import DATASETS
from labelrobust.data.safe_pickle import NUMPY_ARRAY_GLOBALS, load_restricted
from labelrobust.errors import DataError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR variant keeps its files, and what its batches are keyed by."""

    name: str
    folder: str
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    label_key: str
    names_key: str
    num_classes: int
    url: str
    md5: str
    mean: tuple[float, ...]
    std: tuple[float, ...]


# URLs and archive MD5s as published on https://www.cs.toronto.edu/~kriz/cifar.html.
# mean/std: per-channel statistics of the training images in [0, 1].
CIFAR10 = CifarLayout(
    name="cifar10",
    folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_file="test_batch",
    meta_file="batches.meta",
    label_key="labels",
    names_key="label_names",
    num_classes=10,
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    md5="c58f30108f718f92721af3b95e74349a",
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
)

CIFAR100 = CifarLayout(
    name="cifar100",
    folder="cifar-100-python",
    train_files=("train",),
    test_file="test",
    meta_file="meta",
    label_key="fine_labels",
    names_key="fine_label_names",
    num_classes=100,
    url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    md5="eb9058c3a382ffc7106e4002c42a8d85",
    mean=(0.5071, 0.4865, 0.4409),
    std=(0.2673, 0.2564, 0.2762),
)

# The official CIFAR-10 training batches hold 10,000 images each; used to give images of
# batch k their position in the full 50,000-image training set even when batches are missing.
_CIFAR10_BATCH_SIZE = 10_000


def _read_dict(path: Path) -> dict:
    # The batches are Python 2 pickles: latin1 maps their byte strings one-to-one, which
    # numpy needs to rebuild the pixel buffers (pickle docs, "encoding" argument).
    content = load_restricted(path, NUMPY_ARRAY_GLOBALS, encoding="latin1")
    if not isinstance(content, dict):
        raise DataError(f"{path}: expected a pickled dict, found {type(content).__name__}")
    return content


def read_cifar_batch(path: Path, label_key: str, num_classes: int) -> tuple[Tensor, Tensor]:
    """Images (uint8 N×3×32×32) and labels (int64 N) of one CIFAR pickle batch.

    Checks that ``data`` is a uint8 N×3072 array and ``label_key`` holds N integers in
    0..num_classes-1.
    """
    batch = _read_dict(path)
    for key in ("data", label_key):
        if key not in batch:
            raise DataError(
                f"{path}: the batch has no {key!r} entry (keys: {', '.join(map(str, batch))})"
            )
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(
            f"{path}: 'data' must be a uint8 array of shape N×3072, got "
            f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}"
        )
    try:
        labels = np.asarray(batch[label_key])
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: {label_key!r} is not a list of integers ({exc})") from exc
    n = data.shape[0]
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"{path}: {label_key!r} must be {n} integers (one per image), got "
            f"{labels.dtype} of shape {labels.shape}"
        )
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        raise DataError(
            f"{path}: {label_key!r} at index {int(bad[0])} is {int(labels[bad[0]])}, "
            f"expected 0..{num_classes - 1} ({bad.size} such labels)"
        )
    images = torch.from_numpy(np.ascontiguousarray(data.reshape(n, 3, 32, 32)))
    return images, torch.from_numpy(labels.astype(np.int64))


def read_cifar_names(path: Path, key: str, num_classes: int) -> tuple[str, ...]:
    """The ``num_classes`` class names stored under ``key`` in a CIFAR meta file."""
    meta = _read_dict(path)
    names = meta.get(key)
    if (
        not isinstance(names, list)
        or len(names) != num_classes
        or not all(isinstance(n, str) and n for n in names)
    ):
        raise DataError(f"{path}: {key!r} must be a list of {num_classes} class names, got {names!r:.200}")
    return tuple(names)


def cifar_files_present(root: Path, layout: CifarLayout) -> bool:
    """Whether the meta file, the test batch and at least one training batch exist."""
    folder = root / layout.folder
    return (
        (folder / layout.meta_file).is_file()
        and (folder / layout.test_file).is_file()
        and any((folder / f).is_file() for f in layout.train_files)
    )


def download_cifar(root: Path, layout: CifarLayout) -> None:
    """Download and unpack the official archive into ``root`` (skipped when files exist)."""
    if cifar_files_present(root, layout):
        return
    from torchvision.datasets.utils import download_and_extract_archive

    try:
        download_and_extract_archive(layout.url, download_root=str(root), md5=layout.md5)
    except (OSError, RuntimeError) as exc:
        raise DataError(f"{layout.name}: downloading {layout.url} into {root} failed: {exc}") from exc


def read_cifar(root: Path, layout: CifarLayout, download: bool = False) -> Dataset:
    """The CIFAR variant ``layout`` under ``root``: all training batches present, the test batch."""
    if download:
        download_cifar(root, layout)
    folder = Path(layout.folder)
    meta = require_file(layout.name, root, folder / layout.meta_file, downloadable=True)
    test_path = require_file(layout.name, root, folder / layout.test_file, downloadable=True)
    present = [(i, f) for i, f in enumerate(layout.train_files) if (root / folder / f).is_file()]
    if not present:
        # name the first training file: it is the one a partial copy must have at least
        require_file(layout.name, root, folder / layout.train_files[0], downloadable=True)
    if len(present) < len(layout.train_files):
        logger.warning(
            "%s: only %s of the training batches %s found under %s",
            layout.name,
            ", ".join(f for _, f in present),
            ", ".join(layout.train_files),
            root / folder,
        )

    class_names = read_cifar_names(meta, layout.names_key, layout.num_classes)
    images, labels, sources = [], [], []
    for position, name in present:
        x, y = read_cifar_batch(root / folder / name, layout.label_key, layout.num_classes)
        images.append(x)
        labels.append(y)
        sources.append(torch.arange(len(y)) + position * _CIFAR10_BATCH_SIZE)
    test_x, test_y = read_cifar_batch(test_path, layout.label_key, layout.num_classes)
    train = ImageSet(torch.cat(images), torch.cat(labels), source_index=torch.cat(sources))
    test = ImageSet(test_x, test_y)
    report = {
        "train_files": [name for _, name in present],
        "train": len(train),
        "test": len(test),
    }
    return Dataset(
        name=layout.name,
        class_names=class_names,
        train=train,
        test=test,
        mean=layout.mean,
        std=layout.std,
        report=report,
    )


@DATASETS.register("cifar10", "CIFAR-10, 3×32×32, 10 classes")
def load_cifar10(root: Path, download: bool) -> Dataset:
    """CIFAR-10: ``cifar-10-batches-py/data_batch_1..5`` (those present), ``test_batch``."""
    return read_cifar(root, CIFAR10, download)


@DATASETS.register("cifar100", "CIFAR-100, 3×32×32, 100 fine classes")
def load_cifar100(root: Path, download: bool) -> Dataset:
    """CIFAR-100 with its 100 fine labels: ``cifar-100-python/train``, ``test``, ``meta``."""
    return read_cifar(root, CIFAR100, download)
