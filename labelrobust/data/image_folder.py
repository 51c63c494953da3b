"""``image-folder``: a folder of the user's own images as a dataset.

Two layouts. A folder of class subfolders (``DIR/cat/1.png``, ``DIR/dog/7.jpg``) gives every
image its class; the classes are the subfolders' names, sorted, unless ``classes`` names them
(then every subfolder must be one of them). A flat folder (any image not inside a subfolder)
has no classes of its own: ``classes`` must name them and ``soft_labels`` (an export of
``labelrobust annotate``) must label the images; an image's hard label is then the arg-max of
its soft label, and only rated images are kept. With class subfolders, ``soft_labels`` is
optional; given, it also keeps only the rated images, and their subfolders must agree with
the true labels the file recorded.

An image's source index is its position in ``list_folder_images`` (relative paths, sorted),
the same list an annotation campaign over the folder uses. Soft labels are matched by relative
path, not by index, so adding images to the folder later shifts nothing. Images are converted
to RGB and resized to ``size``×``size`` (Pillow, bicubic; its decompression-bomb guard stays
on); a seeded ``test_fraction`` of them (at least one when it is not 0) is the test split, and
``mean``/``std`` are the per-channel statistics of the train split.
"""

from __future__ import annotations

import struct
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from labelrobust.data.base import Dataset, ImageSet
from labelrobust.data.catalog import DATASETS
from labelrobust.data.soft_label_file import (
    FOLDER_DATASET,
    SoftLabelFile,
    check_class_names,
    read_soft_label_file,
    soft_label_path,
)
from labelrobust.errors import ConfigError, DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
MIN_SIZE, MAX_SIZE = 8, 512


def list_folder_images(folder: str | Path) -> list[str]:
    """Relative POSIX paths of the image files under ``folder`` (recursive; a file or folder
    whose name starts with "." is skipped), sorted: an image's position here is its index."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"image folder {root} {'is a file, not a folder' if root.exists() else 'does not exist'}")
    found = []
    for p in root.rglob("*"):
        relative = p.relative_to(root)
        if p.suffix.lower() in IMAGE_SUFFIXES and not any(part.startswith(".") for part in relative.parts) and p.is_file():
            found.append(relative.as_posix())
    if not found:
        raise DataError(f"image folder {root} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return sorted(found)


def _subfolders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def folder_class_names(folder: str | Path, classes: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """The class names: ``classes`` (a list, ``"a,b,c"``, or a text file of one name per line),
    else the names of the class subfolders, sorted."""
    root = Path(folder)
    if classes is None:
        names = _subfolders(root) if root.is_dir() else []
        if len(names) < 2:
            raise ConfigError(
                f"image folder {root} has {len(names)} class subfolder{'' if len(names) == 1 else 's'}; "
                "name the classes (--classes a,b,c, --data-option classes=a,b,c, or a file with one per line)"
            )
        return names
    names = _parse_classes(classes)
    if len(names) < 2 or len(set(names)) != len(names):
        raise ConfigError(f"classes must name at least 2 distinct classes, got {names!r}")
    return names


def _parse_classes(classes) -> list[str]:
    if isinstance(classes, (list, tuple)):
        return [str(c).strip() for c in classes]
    if not isinstance(classes, str):
        raise ConfigError(f"classes must be names separated by commas, a list, or a text file of one name per line, got {classes!r}")
    path = Path(classes).expanduser()
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"classes file {path} cannot be read as UTF-8 text: {err}") from None
    elif "," not in classes and (path.suffix == ".txt" or "/" in classes):
        raise ConfigError(f"classes file {path} does not exist; give a text file of one class name per line, or names separated by commas")
    else:
        text = classes.replace(",", "\n")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _check_options(size, test_fraction, seed) -> None:
    if isinstance(size, bool) or not isinstance(size, Integral) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ConfigError(f"image-folder option size must be an integer in {MIN_SIZE}..{MAX_SIZE} (pixels per side), got {size!r}")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, Real) or not 0 <= test_fraction < 1:
        raise ConfigError(f"image-folder option test_fraction must be a number in [0, 1), got {test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise ConfigError(f"image-folder option seed must be an integer, got {seed!r}")


def _folder_path(path) -> Path:
    if path is None:
        raise ConfigError("dataset image-folder needs option path=DIR (--data-option path=DIR, or data.options.path in YAML)")
    if isinstance(path, bool) or not isinstance(path, (str, Path, int)) or str(path).strip() == "":
        raise ConfigError(f"image-folder option path must be a folder, got {path!r}")
    return Path(str(path)).expanduser()


def read_image(path: Path, size: int) -> np.ndarray:
    """One image as uint8 3×size×size (RGB, bicubic); an unreadable file is a DataError naming it."""
    try:
        with Image.open(path) as picture:
            rgb = picture.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    except Image.DecompressionBombError as err:
        raise DataError(f"image {path} is refused as a possible decompression bomb: {err}") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as err:
        raise DataError(f"cannot read image {path}: {str(err) or type(err).__name__}") from None
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


@DATASETS.register(
    FOLDER_DATASET,
    "your own images: class subfolders, or a flat folder with classes + soft_labels (options path, classes, size, test_fraction, seed, soft_labels)",
)
def load_image_folder(root: Path, download: bool, path: str | None = None, classes: str | list | None = None, size: int = 32,
                      test_fraction: float = 0.2, seed: int = 0, soft_labels: str | None = None) -> Dataset:
    """The images of folder ``path`` (relative to the current directory; ``root`` and
    ``download`` are not used: the folder is the data)."""
    folder = _folder_path(path)
    _check_options(size, test_fraction, seed)
    files = list_folder_images(folder)
    layered = all("/" in f for f in files)
    if not layered and classes is None:
        raise ConfigError(f"image folder {folder} is flat (images outside class subfolders): name its classes with --data-option classes=a,b,c (or a file of one name per line)")
    names = folder_class_names(folder, classes)
    if not layered and soft_labels is None:
        raise ConfigError(f"image folder {folder} is flat (images outside class subfolders): its images need soft labels, --data-option soft_labels=FILE (labelrobust annotate export)")
    labels = folder_labels(folder, files, names)
    keep, soft, soft_report = np.arange(len(files)), None, None
    if soft_labels is not None:
        source = soft_label_path(soft_labels, "image-folder option soft_labels")
        keep, soft, soft_report = _match_soft_labels(folder, files, names, source, labels)
        if not layered:
            labels[keep] = soft.argmax(axis=1)
    images = _read_images(folder, [files[i] for i in keep], size)
    full = ImageSet(torch.from_numpy(images), torch.from_numpy(labels[keep]), soft_labels=None if soft is None else torch.from_numpy(soft),
                    source_index=torch.from_numpy(keep.astype(np.int64)))
    train, test = _split(full, float(test_fraction), int(seed), folder)
    report = {"folder": str(folder.resolve()), "layout": "class subfolders" if layered else "flat", "images_in_folder": len(files), "images_kept": len(full)}
    if soft_report is not None:
        report["soft_labels"] = soft_report
    mean, std = _channel_stats(train.images)
    return Dataset(name=FOLDER_DATASET, class_names=tuple(names), train=train, test=test, mean=mean, std=std, report=report)


def folder_labels(folder: Path, files: list[str], names: list[str]) -> np.ndarray:
    """Each image's true class: its class subfolder's index in ``names`` when every image lies in
    a class subfolder; −1 (unknown) for every image of a flat folder. The dataset and an
    annotation campaign over the folder read the same labels."""
    if all("/" in f for f in files):
        return _subfolder_labels(folder, files, names)
    return np.full(len(files), -1, dtype=np.int64)


def _subfolder_labels(folder: Path, files: list[str], names: list[str]) -> np.ndarray:
    """Each image's class: the index of its top subfolder in ``names``; every subfolder must be a class."""
    strangers = [s for s in _subfolders(folder) if s not in names]
    if strangers:
        raise DataError(f"image folder {folder}: subfolders {strangers[:5]} are not among the classes {names}; every subfolder must be a class")
    position = {n: i for i, n in enumerate(names)}
    return np.array([position[f.split("/", 1)[0]] for f in files], dtype=np.int64)


def _match_soft_labels(folder: Path, files: list[str], names: list[str], source: Path, labels: np.ndarray):
    """(positions in ``files`` of the labelled images, ascending; their soft labels; the report entry),
    matched by the file's ``files`` entries."""
    data: SoftLabelFile = read_soft_label_file(source)
    if data.dataset != FOLDER_DATASET:
        raise DataError(f"{source} holds soft labels of dataset {data.dataset!r}, not of an image folder; use it with --dataset {data.dataset}")
    check_class_names(str(source), data.class_names, tuple(names), "the folder's")
    if data.num_images == 0:
        raise DataError(f"{source}: labels no image (every answer is all zero); nothing to train on")
    position = {f: i for i, f in enumerate(files)}
    gone = [f for f in data.files if f not in position]
    if gone:
        raise DataError(f"{source}: {len(gone)} labelled image{'s are' if len(gone) > 1 else ' is'} not in {folder} any more (first: {gone[0]}); the file was made for another folder or images were removed")
    keep = np.array([position[f] for f in data.files], dtype=np.int64)
    differ = np.flatnonzero((labels[keep] >= 0) & (data.true_labels >= 0) & (labels[keep] != data.true_labels))
    if len(differ):
        first = ", ".join(data.files[i] for i in differ[:3])
        raise DataError(f"{source}: {len(differ)} of {len(keep)} images have a true label other than their class subfolder (first: {first}); the file does not belong to this folder")
    order = np.argsort(keep, kind="stable")
    return keep[order], np.array(data.soft_labels[order], dtype=np.float32), data.summary(str(source), len(files) - len(keep))


def _split(full: ImageSet, test_fraction: float, seed: int, folder: Path) -> tuple[ImageSet, ImageSet]:
    """A seeded permutation: its first round(test_fraction·N) images (at least 1) are the test split."""
    n = len(full)
    n_test = 0 if test_fraction == 0 else max(1, round(test_fraction * n))
    if n_test >= n:
        raise DataError(f"image folder {folder}: {n} image{'s' if n != 1 else ''} kept, test_fraction {test_fraction} leaves none for training")
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    return full.subset(perm[n_test:].sort().values), full.subset(perm[:n_test].sort().values)


def _read_images(folder: Path, files: list[str], size: int) -> np.ndarray:
    images = np.empty((len(files), 3, size, size), dtype=np.uint8)  # filled in place: no second copy
    for row, name in enumerate(files):
        images[row] = read_image(folder / name, size)
    return images


def _channel_stats(images: torch.Tensor, chunk: int = 256) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean μ and std σ = sqrt(E[x²] − μ²) of uint8 images scaled to [0, 1], summed in
    chunks so large images are not all converted to floats at once (σ at least 1e-3: a constant
    channel must not divide the normalised input by zero)."""
    total = torch.zeros(3, dtype=torch.float64)
    squares = torch.zeros(3, dtype=torch.float64)
    for part in images.split(chunk):
        x = part.to(torch.float64).div_(255)
        total += x.sum(dim=(0, 2, 3))
        squares += x.square().sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt()
    return tuple(float(m) for m in mean), tuple(max(float(s), 1e-3) for s in std)
