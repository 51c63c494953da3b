"""Soft labels from a file: the export of ``labelrobust annotate export`` (format
"labelrobust-soft-labels", version 1; keys in docs/annotate.md).

``--data-option soft_labels=FILE`` works with every dataset (``load_dataset`` applies
``attach_soft_labels`` right after the loader): the file's split keeps the images that have a
soft label, carrying those labels; its other splits are left as they are. The file is checked
against the data it is attached to (dataset, class names, indices, and the true labels recorded
at export), so soft labels of other images are never attached silently.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from labelrobust.data.base import Dataset
from labelrobust.errors import DataError

FORMAT = "labelrobust-soft-labels"
FORMAT_VERSION = 1
SIMPLEX_TOLERANCE = 1e-5


@dataclass(frozen=True)
class SoftLabelFile:
    """The per-image part of an export file (the per-answer arrays are for statistics)."""

    path: str
    dataset: str
    split: str
    class_names: tuple[str, ...]
    indices: np.ndarray
    files: tuple[str, ...]
    soft_labels: np.ndarray
    true_labels: np.ndarray
    n_answers: np.ndarray
    answers: int
    annotators: int
    sha256: str = ""


def _text(arrays, key: str, where: str) -> str:
    value = arrays[key]
    if value.dtype.kind != "U" or value.ndim != 0:
        raise DataError(f"{where}: {key} must be a text value, got {value.dtype} of shape {value.shape}")
    return str(value)


def _array(arrays, key: str, where: str, kind: str, ndim: int) -> np.ndarray:
    value = arrays[key]
    if value.dtype.kind not in kind or value.ndim != ndim:
        raise DataError(f"{where}: {key} must be a {ndim}-d array of {'integers' if kind in 'iu' else 'numbers' if 'f' in kind else 'text'}, got {value.dtype} of shape {value.shape}")
    return value


def read_soft_label_file(path: str | Path) -> SoftLabelFile:
    """Read and check an export file (``np.load`` without pickles); DataError names the key."""
    where = str(path)
    if not Path(path).is_file():
        raise DataError(f"soft_labels file {where} does not exist (make one with labelrobust annotate export)")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{where} is not a soft-label .npz file ({str(err).splitlines()[0][:120]}); make one with labelrobust annotate export") from None
    needed = ("format", "format_version", "dataset", "split", "class_names", "indices", "files", "soft_labels", "true_labels", "n_answers", "ratings", "annotators")
    missing = [k for k in needed if k not in arrays]
    if missing:
        raise DataError(f"{where}: missing key{'s' if len(missing) > 1 else ''} {', '.join(missing)}; not a labelrobust-soft-labels file")
    if _text(arrays, "format", where) != FORMAT or int(arrays["format_version"]) != FORMAT_VERSION:
        raise DataError(f"{where}: format {arrays['format']} version {arrays['format_version']}, expected {FORMAT} version {FORMAT_VERSION}")
    names = _array(arrays, "class_names", where, "U", 1)
    k = len(names)
    indices = _array(arrays, "indices", where, "iu", 1)
    soft = _array(arrays, "soft_labels", where, "f", 2)
    files = _array(arrays, "files", where, "U", 1)
    true = _array(arrays, "true_labels", where, "iu", 1)
    counts = _array(arrays, "n_answers", where, "iu", 1)
    _check_rows(where, k, indices, soft, files, true, counts)
    return SoftLabelFile(
        path=where, dataset=_text(arrays, "dataset", where), split=_text(arrays, "split", where),
        class_names=tuple(names.tolist()), indices=indices.astype(np.int64), files=tuple(files.tolist()),
        soft_labels=soft.astype(np.float32), true_labels=true.astype(np.int64), n_answers=counts.astype(np.int64),
        answers=int(arrays["ratings"].shape[0]), annotators=int(arrays["annotators"].shape[0]),
        sha256=hashlib.sha256(Path(path).read_bytes()).hexdigest(),
    )


def _check_rows(where, k, indices, soft, files, true, counts) -> None:
    n = len(indices)
    if k < 2:
        raise DataError(f"{where}: class_names has {k} entries, expected at least 2")
    for key, arr in (("soft_labels", soft), ("files", files), ("true_labels", true), ("n_answers", counts)):
        if arr.shape[0] != n:
            raise DataError(f"{where}: {key} has {arr.shape[0]} rows but indices has {n}; one row per image")
    if soft.shape[1] != k:
        raise DataError(f"{where}: soft_labels has {soft.shape[1]} columns, expected {k} (one per class name)")
    if n and (indices.min() < 0 or (np.diff(indices) <= 0).any()):
        raise DataError(f"{where}: indices must be ≥ 0, unique and ascending")
    if not np.isfinite(soft).all() or (soft < 0).any():
        raise DataError(f"{where}: soft_labels must be finite and ≥ 0")
    sums = soft.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1) > SIMPLEX_TOLERANCE)
    if len(bad):
        raise DataError(f"{where}: soft_labels row {bad[0]} sums to {sums[bad[0]]:.6g}, expected 1")
    if n and (true.min() < -1 or true.max() >= k):
        raise DataError(f"{where}: true_labels must lie in -1..{k - 1} (-1: unknown)")
    if n and counts.min() < 1:
        raise DataError(f"{where}: n_answers must be ≥ 1 for every image")


def attach_soft_labels(dataset: Dataset, labels: SoftLabelFile) -> Dataset:
    """``dataset`` with the file's split cut to the images the file labels, carrying its soft labels."""
    where = labels.path
    if labels.dataset != dataset.name:
        raise DataError(f"{where} holds soft labels of dataset {labels.dataset!r}, not {dataset.name!r}")
    if tuple(labels.class_names) != tuple(dataset.class_names):
        raise DataError(f"{where}: class names {list(labels.class_names)} differ from {dataset.name}'s {list(dataset.class_names)}")
    split = getattr(dataset, labels.split, None) if labels.split in ("train", "val", "test") else None
    if split is None:
        raise DataError(f"{where}: split {labels.split!r} is not a split of {dataset.name} (train, test{', val' if dataset.val is not None else ''})")
    position = {int(s): i for i, s in enumerate(split.source_index.tolist())}
    missing = [int(i) for i in labels.indices if int(i) not in position]
    if missing:
        raise DataError(f"{where}: {len(missing)} indices are not images of {dataset.name} {labels.split} (first: {missing[:5]})")
    rows = torch.tensor([position[int(i)] for i in labels.indices], dtype=torch.int64)
    known = labels.true_labels >= 0
    differ = np.flatnonzero(known & (split.labels[rows].numpy() != labels.true_labels))
    if len(differ):
        raise DataError(
            f"{where}: {len(differ)} images have a true label other than {dataset.name}'s (indices {labels.indices[differ[:5]].tolist()}); "
            "the file does not belong to this data"
        )
    cut = split.subset(rows)
    cut = replace(cut, soft_labels=torch.from_numpy(labels.soft_labels.copy()))
    report = {**dataset.report, "soft_labels": {
        "file": where, "split": labels.split, "images_labelled": len(rows), "images_dropped": len(split) - len(rows),
        "answers": labels.answers, "annotators": labels.annotators, "sha256": labels.sha256,
    }}
    return replace(dataset.with_splits(**{labels.split: cut}), report=report)
