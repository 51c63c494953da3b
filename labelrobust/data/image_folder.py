"""``image-folder``: a folder of the user's own images as a dataset.

Two layouts. A folder of class subfolders (``DIR/cat/1.png``, ``DIR/dog/7.jpg``) gives every
image its class; the classes are the subfolders' names, sorted, unless ``classes`` names them.
A flat folder has no classes of its own: ``classes`` must name them and ``soft_labels`` (an
export of ``labelrobust annotate``) must label the images; an image's hard label is then the
arg-max of its soft label, and only rated images are kept.

An image's index is its position in ``list_folder_images`` (relative paths, sorted), the same
list an annotation campaign over the folder uses. Soft labels are matched by relative path,
so adding images to the folder later shifts nothing. Images are converted to RGB and resized
to ``size``×``size`` (bicubic); a seeded ``test_fraction`` of them is the test split.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from labelrobust.data.base import Dataset, ImageSet
from labelrobust.data.catalog import DATASETS
from labelrobust.errors import ConfigError, DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def list_folder_images(folder: str | Path) -> list[str]:
    """Relative POSIX paths of the image files under ``folder`` (recursive, hidden ones skipped), sorted."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist or is not a folder")
    found = sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not found:
        raise DataError(f"image folder {root} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return found


def _subfolders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def folder_class_names(folder: str | Path, classes: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """The class names: ``classes`` (a list, ``"a,b,c"``, or a text file of one name per line),
    else the names of the class subfolders."""
    root = Path(folder)
    if classes is None:
        names = _subfolders(root) if root.is_dir() else []
        if len(names) < 2:
            raise ConfigError(f"image folder {root} has no class subfolders; name the classes (--classes a,b,c or a file with one per line)")
        return names
    if isinstance(classes, str):
        path = Path(classes)
        text = path.read_text(encoding="utf-8") if path.is_file() else classes.replace(",", "\n")
        names = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        names = [str(c).strip() for c in classes]
    if len(names) < 2 or len(set(names)) != len(names):
        raise ConfigError(f"classes must name at least 2 distinct classes, got {names!r}")
    return names


def _read(path: Path, size: int) -> np.ndarray:
    try:
        with Image.open(path) as picture:
            rgb = picture.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    except (OSError, Image.DecompressionBombError, ValueError) as err:
        raise DataError(f"cannot read image {path}: {err}") from None
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


def _check_options(size: int, test_fraction: float) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= 512:
        raise ConfigError(f"image-folder option size must be an integer in 8..512, got {size!r}")
    if not isinstance(test_fraction, (int, float)) or not 0 <= test_fraction < 1:
        raise ConfigError(f"image-folder option test_fraction must be in [0, 1), got {test_fraction!r}")


@DATASETS.register("image-folder", "your own images: class subfolders, or a flat folder with classes + soft_labels (options path, classes, size, test_fraction, seed)")
def load_image_folder(root: Path, download: bool, path: str | None = None, classes: str | list | None = None, size: int = 32,
                      test_fraction: float = 0.2, seed: int = 0, soft_labels: str | None = None) -> Dataset:
    """Images of folder ``path`` (``root`` and ``download`` are not used: the folder is the data)."""
    if path is None:
        raise ConfigError("dataset image-folder needs option path=DIR (--data-option path=DIR)")
    _check_options(size, test_fraction)
    folder = Path(path).expanduser()
    files = list_folder_images(folder)
    names = folder_class_names(folder, classes)
    tops = [f.split("/")[0] if "/" in f else None for f in files]
    layered = all(t is not None for t in tops)
    labelled = None
    if layered:
        strangers = sorted({t for t in tops if t not in names})
        if strangers:
            raise DataError(f"image folder {folder}: subfolders {strangers[:5]} are not among the classes {names}")
        labels = np.array([names.index(t) for t in tops], dtype=np.int64)
    elif soft_labels is None:
        raise ConfigError(f"image folder {folder} is flat (no class subfolders): its images need soft labels (--data-option soft_labels=FILE from labelrobust annotate export)")
    else:
        labels = np.full(len(files), -1, dtype=np.int64)
    if soft_labels is not None:
        labelled = _folder_soft_labels(folder, files, names, soft_labels, labels)
    keep = np.arange(len(files)) if labelled is None else labelled[0]
    soft = None if labelled is None else torch.from_numpy(labelled[1])
    if labelled is not None and not layered:
        labels[keep] = labelled[1].argmax(axis=1)
    images = torch.from_numpy(np.stack([_read(folder / files[i], size) for i in keep]))
    full = ImageSet(images, torch.from_numpy(labels[keep]), soft_labels=soft, source_index=torch.from_numpy(keep.astype(np.int64)))
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(len(full)))
    n_test = 0 if test_fraction == 0 else max(1, round(test_fraction * len(full)))
    train, test = full.subset(perm[n_test:].sort().values), full.subset(perm[:n_test].sort().values)
    mean = tuple(float(m) for m in train.images.float().div(255).mean(dim=(0, 2, 3)))
    std = tuple(max(float(s), 1e-3) for s in train.images.float().div(255).std(dim=(0, 2, 3)))
    report = {"folder": str(folder.resolve()), "images": len(files), "kept": len(full), "layout": "class subfolders" if layered else "flat"}
    dataset = Dataset(name="image-folder", class_names=tuple(names), train=train, test=test, mean=mean, std=std, report=report)
    return dataset if labelled is None else replace(dataset, report={**report, "soft_labels": labelled[2]})


def _folder_soft_labels(folder: Path, files: list[str], names: list[str], source: str, labels: np.ndarray):
    """(positions of the labelled files, their soft labels, a report) matched by relative path."""
    from labelrobust.data.soft_label_file import read_soft_label_file

    data = read_soft_label_file(source)
    if data.dataset != "image-folder":
        raise DataError(f"{source} holds soft labels of dataset {data.dataset!r}, not of an image folder")
    if list(data.class_names) != list(names):
        raise DataError(f"{source}: class names {list(data.class_names)} differ from the folder's {names}")
    position = {f: i for i, f in enumerate(files)}
    gone = [f for f in data.files if f not in position]
    if gone:
        raise DataError(f"{source}: {len(gone)} labelled images are no longer in {folder} (first: {gone[0]})")
    keep = np.array([position[f] for f in data.files], dtype=np.int64)
    order = np.argsort(keep)
    known = labels[keep] >= 0
    if (known & (data.true_labels >= 0) & (labels[keep] != data.true_labels)).any():
        raise DataError(f"{source}: some images' true labels differ from their class subfolders; the file does not belong to this folder")
    report = {"file": source, "images_labelled": len(keep), "images_dropped": len(files) - len(keep), "answers": data.answers, "sha256": data.sha256}
    return keep[order], data.soft_labels[order], report
