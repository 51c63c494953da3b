"""Tiny ImageNet (Le & Yang 2015, "Tiny ImageNet Visual Recognition Challenge", Stanford
CS231N): 200 ImageNet classes, 64×64 RGB, 500 training and 50 validation images per class.

Layout of the official zip ``tiny-imagenet-200/``: ``wnids.txt`` (the 200 WordNet ids),
``words.txt`` (``wnid<TAB>name, synonym, ...`` for all of WordNet), ``train/<wnid>/images/
*.JPEG`` and ``val/images/*.JPEG`` with ``val/val_annotations.txt`` (``file<TAB>wnid<TAB>
bbox...``). The official test images have no labels, so the val split is our test split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from labelrobust.data.base import Dataset, ImageSet, missing_data_error, require_file
from labelrobust.data.catalog import DATASETS
from labelrobust.errors import DataError

FOLDER = Path("tiny-imagenet-200")
URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
MD5 = "90528d7ca1a48142e341f4ef8d21d0de"
SIZE = 64
# Per-channel statistics of the training images in [0, 1].
MEAN = (0.4802, 0.4481, 0.3975)
STD = (0.2770, 0.2691, 0.2821)


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc


def read_class_names(wnids_path: Path, words_path: Path) -> tuple[list[str], tuple[str, ...]]:
    """The class wnids, sorted, and for each the first name of its ``words.txt`` entry.

    Sorted because torchvision's ``ImageFolder`` (which most Tiny ImageNet code and
    checkpoints use) numbers the ``train/<wnid>`` folders in sorted order.
    """
    wnids = [line.strip() for line in _read_lines(wnids_path) if line.strip()]
    if not wnids:
        raise DataError(f"{wnids_path} lists no classes; expected one WordNet id per line")
    if len(set(wnids)) != len(wnids):
        raise DataError(f"{wnids_path} lists a WordNet id more than once")
    words: dict[str, str] = {}
    for number, line in enumerate(_read_lines(words_path), start=1):
        if not line.strip():
            continue
        wnid, sep, names = line.partition("\t")
        if not sep:
            raise DataError(f"{words_path}, line {number}: expected 'wnid<TAB>names', got {line!r:.80}")
        words[wnid.strip()] = names.split(",")[0].strip()
    missing = [w for w in wnids if not words.get(w)]
    if missing:
        raise DataError(f"{words_path} has no name for {len(missing)} classes of {wnids_path}, e.g. {missing[0]}")
    wnids = sorted(wnids)
    return wnids, tuple(words[w] for w in wnids)


def read_image(path: Path) -> np.ndarray:
    """One image as uint8 3×64×64 (converted to RGB: a few Tiny ImageNet files are greyscale)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc
    if pixels.shape != (SIZE, SIZE, 3):
        raise DataError(f"{path}: image is {pixels.shape[1]}×{pixels.shape[0]}, expected {SIZE}×{SIZE}")
    return pixels.transpose(2, 0, 1)


def _read_images(paths: list[Path]) -> torch.Tensor:
    out = np.empty((len(paths), 3, SIZE, SIZE), dtype=np.uint8)
    for i, path in enumerate(paths):
        out[i] = read_image(path)
    return torch.from_numpy(out)


def _train_split(root: Path, wnids: list[str]) -> ImageSet:
    paths: list[Path] = []
    labels: list[int] = []
    for label, wnid in enumerate(wnids):
        folder = root / FOLDER / "train" / wnid / "images"
        if not folder.is_dir():
            raise missing_data_error("tiny-imagenet", folder, root, downloadable=True)
        files = sorted(folder.glob("*.JPEG"))
        if not files:
            raise DataError(f"tiny-imagenet: {folder} holds no .JPEG images for class {wnid}")
        paths += files
        labels += [label] * len(files)
    return ImageSet(_read_images(paths), torch.tensor(labels, dtype=torch.int64))


def _val_split(root: Path, wnids: list[str]) -> ImageSet:
    annotations = require_file(
        "tiny-imagenet", root, FOLDER / "val" / "val_annotations.txt", downloadable=True
    )
    index = {w: i for i, w in enumerate(wnids)}
    paths: list[Path] = []
    labels: list[int] = []
    for number, line in enumerate(_read_lines(annotations), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(f"{annotations}, line {number}: expected 'file<TAB>wnid<TAB>bbox', got {line!r:.80}")
        name, wnid = fields[0].strip(), fields[1].strip()
        if wnid not in index:
            raise DataError(f"{annotations}, line {number}: class {wnid!r} is not in wnids.txt")
        if Path(name).name != name:
            # a path in the annotation file could point outside the data folder
            raise DataError(f"{annotations}, line {number}: {name!r} is not a plain file name")
        path = root / FOLDER / "val" / "images" / name
        if not path.is_file():
            raise missing_data_error("tiny-imagenet", path, root, downloadable=True)
        paths.append(path)
        labels.append(index[wnid])
    if not paths:
        raise DataError(f"{annotations} lists no images")
    return ImageSet(_read_images(paths), torch.tensor(labels, dtype=torch.int64))


@DATASETS.register("tiny-imagenet", "Tiny ImageNet, 3×64×64, 200 classes (val is the test split)")
def load_tiny_imagenet(root: Path, download: bool) -> Dataset:
    """Tiny ImageNet: uint8 N×3×64×64; train from ``train/``, test from the labelled ``val/``."""
    wnids_rel, words_rel = FOLDER / "wnids.txt", FOLDER / "words.txt"
    if download and not (root / wnids_rel).is_file():
        from torchvision.datasets.utils import download_and_extract_archive

        try:
            download_and_extract_archive(URL, download_root=str(root), md5=MD5)
        except (OSError, RuntimeError) as exc:
            raise DataError(f"tiny-imagenet: downloading {URL} into {root} failed: {exc}") from exc
    wnids_path = require_file("tiny-imagenet", root, wnids_rel, downloadable=True)
    words_path = require_file("tiny-imagenet", root, words_rel, downloadable=True)
    wnids, class_names = read_class_names(wnids_path, words_path)
    train = _train_split(root, wnids)
    test = _val_split(root, wnids)
    return Dataset(
        name="tiny-imagenet",
        class_names=class_names,
        train=train,
        test=test,
        mean=MEAN,
        std=STD,
        report={"train": len(train), "test": len(test), "classes": len(wnids)},
    )
