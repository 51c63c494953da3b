"""Soft labels from a file: the export of ``labelrobust annotate export`` (format
"labelrobust-soft-labels", version 1; every key in docs/annotate.md).

``--data-option soft_labels=FILE`` works with every dataset (``load_dataset`` applies
``attach_soft_labels`` right after the loader): the file's split keeps the images that have a
soft label, carrying those labels; its other splits are left as they are. The file is checked
on its own (every key, dtype, shape and range) and against the data it is attached to (dataset,
class names, indices, and the true labels recorded at export), so soft labels of other images
are never attached silently. Image folders match their labels by file name instead
(``labelrobust.data.image_folder``).

Invariants of a valid file (K classes, M answers, N labelled images):

    ratings ∈ {0..max_rating}^{M×K};  soft_labels[i] ≥ 0, |Σ_k soft_labels[i, k] − 1| ≤ 1e-5;
    indices = the distinct answer_index of the answers that are not all zero, ascending;
    n_answers[i] = #{answers a of image indices[i] with Σ_k ratings[a, k] > 0} ≥ 1.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from labelrobust.data.base import Dataset, format_ranges
from labelrobust.errors import ConfigError, DataError

FORMAT = "labelrobust-soft-labels"
FORMAT_VERSION = 1
SIMPLEX_TOLERANCE = 1e-5
FOLDER_DATASET = "image-folder"
FOLDER_SPLIT = "all"
SPLITS = ("train", "test", "val", FOLDER_SPLIT)
KEYS = (
    "format", "format_version", "campaign", "dataset", "split", "folder", "class_names", "max_rating",
    "ratings", "answer_index", "answer_annotator", "answer_time", "annotators",
    "indices", "files", "soft_labels", "mean_ratings", "n_answers", "true_labels",
)
_KIND_WORDS = {"U": "text", "iu": "integers", "f": "floats", "iuf": "numbers"}  # numpy dtype kinds


@dataclass(frozen=True, eq=False)
class SoftLabelFile:
    """Every key of an export file, checked; arrays are read-only.

    Per answer (M rows): ``ratings`` int16 M×K, ``answer_index``, ``answer_annotator`` (a row of
    ``annotators``), ``answer_time``. Per labelled image (N rows, ascending ``indices``):
    ``files``, ``soft_labels`` float32 N×K, ``mean_ratings``, ``n_answers``, ``true_labels``
    (−1: unknown). ``path`` is where it was read from, ``sha256`` the file's digest.
    """

    path: str
    format: str
    format_version: int
    campaign: str
    dataset: str
    split: str
    folder: str
    class_names: tuple[str, ...]
    max_rating: int
    ratings: np.ndarray
    answer_index: np.ndarray
    answer_annotator: np.ndarray
    answer_time: np.ndarray
    annotators: tuple[str, ...]
    indices: np.ndarray
    files: tuple[str, ...]
    soft_labels: np.ndarray
    mean_ratings: np.ndarray
    n_answers: np.ndarray
    true_labels: np.ndarray
    sha256: str

    @property
    def num_images(self) -> int:
        return len(self.indices)

    @property
    def num_answers(self) -> int:
        return len(self.answer_index)

    def summary(self, source: str, images_dropped: int) -> dict:
        """The ``soft_labels`` entry of a dataset report (written to every run's dataset_report.json)."""
        return {
            "file": source, "campaign": self.campaign, "split": self.split, "images_labelled": self.num_images,
            "images_dropped": int(images_dropped), "answers": self.num_answers,
            "answers_averaged": int(self.n_answers.sum()), "annotators": len(self.annotators), "sha256": self.sha256,
        }


def soft_label_path(value, where: str = "dataset option soft_labels") -> Path:
    """The path a ``soft_labels`` option names (relative to the current directory)."""
    if isinstance(value, bool) or not isinstance(value, (str, os.PathLike, int)):
        raise ConfigError(f"{where} must be the path of a soft-label .npz file, got {value!r}")
    if str(value).strip() == "":
        raise ConfigError(f"{where} is empty; give the path of a soft-label .npz file (labelrobust annotate export)")
    return Path(str(value)).expanduser()


def read_soft_label_file(path: str | Path) -> SoftLabelFile:
    """Read and check an export file (``np.load`` without pickles); a DataError names the file and the key."""
    where = str(path)
    arrays = _load_arrays(Path(path), where)
    return _checked(arrays, where, hashlib.sha256(Path(path).read_bytes()).hexdigest())


def _load_arrays(path: Path, where: str) -> dict[str, np.ndarray]:
    hint = "make one with labelrobust annotate export"
    if not path.is_file():
        raise DataError(f"{where}: soft-label file {'is a folder' if path.is_dir() else 'does not exist'}; {hint}")
    try:
        with path.open("rb") as stream:
            head = stream.read(6)
        if head[:1] == b"\x80":  # the pickle protocol marker: never loaded, whatever the name says
            raise DataError(f"{where} is a pickle, not an .npz file; pickles are never loaded; {hint}")
        if head == b"\x93NUMPY":
            raise DataError(f"{where} is a single .npy array, not an .npz file of named arrays; {hint}")
        if not zipfile.is_zipfile(path):
            raise DataError(f"{where} is not an .npz file (no zip archive of .npy arrays); {hint}")
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except DataError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, MemoryError, KeyError) as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0][:120]
        raise DataError(f"{where} is not a readable .npz file ({reason}); {hint}") from None
    strange = sorted(k for k, v in arrays.items() if not isinstance(v, np.ndarray))
    if strange:
        raise DataError(f"{where}: members {strange[:3]} are not .npy arrays; not a {FORMAT} file")
    missing = [k for k in KEYS if k not in arrays]
    if missing:
        raise DataError(f"{where}: missing key{'s' if len(missing) > 1 else ''} {', '.join(missing)}; not a {FORMAT} file ({hint})")
    return arrays


def _get(arrays: dict, where: str, key: str, kinds: str, shape: tuple) -> np.ndarray:
    """``arrays[key]`` if its dtype kind is in ``kinds`` and its shape matches (None: any length)."""
    value = arrays[key]
    fits = value.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, value.shape))
    if value.dtype.kind not in kinds or not fits:
        kind = _KIND_WORDS[kinds]
        wanted = f"a single value ({kind})" if not shape else f"an array of {kind} of shape {'×'.join('any' if s is None else str(s) for s in shape)}"
        raise DataError(f"{where}: {key} must be {wanted}, got {value.dtype} of shape {value.shape}")
    return value


def _text(arrays, where, key) -> str:
    return str(_get(arrays, where, key, "U", ()))


def _integer(arrays, where, key) -> int:
    return int(_get(arrays, where, key, "iu", ()))


def _checked(arrays: dict, where: str, sha256: str) -> SoftLabelFile:
    fmt, version = _text(arrays, where, "format"), _integer(arrays, where, "format_version")
    if fmt != FORMAT:
        raise DataError(f"{where}: format is {fmt!r}, expected {FORMAT!r}")
    if version != FORMAT_VERSION:
        raise DataError(f"{where}: format_version is {version}, expected {FORMAT_VERSION} (the version this labelrobust reads)")
    header = _header(arrays, where)
    k, max_rating = len(header["class_names"]), header["max_rating"]
    answers = _answers(arrays, where, k, max_rating)
    images = _images(arrays, where, k, max_rating, header["dataset"])
    _check_counts(where, answers, images)
    frozen = {key: _read_only(v) for key, v in {**answers, **images}.items()}
    return SoftLabelFile(path=where, format=fmt, format_version=version, sha256=sha256, **header, **frozen)


def _header(arrays, where) -> dict:
    dataset, split = _text(arrays, where, "dataset"), _text(arrays, where, "split")
    if split not in SPLITS:
        raise DataError(f"{where}: split is {split!r}, expected one of {', '.join(SPLITS)}")
    if (dataset == FOLDER_DATASET) != (split == FOLDER_SPLIT):
        raise DataError(f"{where}: split {split!r} with dataset {dataset!r}; split {FOLDER_SPLIT!r} is for {FOLDER_DATASET} files and only for them")
    names = _get(arrays, where, "class_names", "U", (None,)).tolist()
    if len(names) < 2 or len(set(names)) != len(names) or "" in names:
        raise DataError(f"{where}: class_names must be at least 2 distinct non-empty names, got {names}")
    max_rating = _integer(arrays, where, "max_rating")
    if max_rating < 1:
        raise DataError(f"{where}: max_rating is {max_rating}, expected at least 1")
    return {
        "campaign": _text(arrays, where, "campaign"), "dataset": dataset, "split": split,
        "folder": _text(arrays, where, "folder"), "class_names": tuple(names), "max_rating": max_rating,
    }


def _answers(arrays, where, k: int, max_rating: int) -> dict:
    ratings = _get(arrays, where, "ratings", "iu", (None, k))
    m = len(ratings)
    image = _get(arrays, where, "answer_index", "iu", (m,))
    annotator = _get(arrays, where, "answer_annotator", "iu", (m,))
    time = _get(arrays, where, "answer_time", "iuf", (m,))
    names = _get(arrays, where, "annotators", "U", (None,))
    _first_bad(where, "ratings", (ratings < 0) | (ratings > max_rating), f"in 0..{max_rating} (max_rating)", ratings)
    _first_bad(where, "answer_index", image < 0, "≥ 0 (a source index)", image)
    _first_bad(where, "answer_annotator", (annotator < 0) | (annotator >= len(names)), f"a row of annotators (0..{len(names) - 1})", annotator)
    _first_bad(where, "answer_time", ~np.isfinite(time), "a finite time in unix seconds", time)
    return {
        "ratings": ratings.astype(np.int16), "answer_index": image.astype(np.int64),
        "answer_annotator": annotator.astype(np.int64), "answer_time": time.astype(np.float64),
        "annotators": tuple(names.tolist()),
    }


def _images(arrays, where, k: int, max_rating: int, dataset: str) -> dict:
    indices = _get(arrays, where, "indices", "iu", (None,))
    n = len(indices)
    files = _get(arrays, where, "files", "U", (n,))
    soft = _get(arrays, where, "soft_labels", "f", (n, k))
    mean = _get(arrays, where, "mean_ratings", "f", (n, k))
    counts = _get(arrays, where, "n_answers", "iu", (n,))
    true = _get(arrays, where, "true_labels", "iu", (n,))
    _first_bad(where, "indices", indices < 0, "≥ 0 (a source index)", indices)
    if n > 1 and (np.diff(indices.astype(np.int64)) <= 0).any():
        row = int(np.flatnonzero(np.diff(indices.astype(np.int64)) <= 0)[0]) + 1
        raise DataError(f"{where}: indices row {row} is {indices[row]} after {indices[row - 1]}, expected unique ascending indices")
    _check_simplex(where, soft)
    _first_bad(where, "mean_ratings", ~np.isfinite(mean) | (mean < 0) | (mean > max_rating), f"in [0, {max_rating}]", mean)
    _first_bad(where, "n_answers", counts < 1, "≥ 1 (images without an answer have no row)", counts)
    _first_bad(where, "true_labels", (true < -1) | (true >= k), f"in -1..{k - 1} (-1: unknown)", true)
    _check_files(where, files.tolist(), dataset)
    return {
        "indices": indices.astype(np.int64), "files": tuple(files.tolist()), "soft_labels": soft.astype(np.float32),
        "mean_ratings": mean.astype(np.float32), "n_answers": counts.astype(np.int64), "true_labels": true.astype(np.int64),
    }


def _first_bad(where: str, key: str, bad: np.ndarray, expected: str, values: np.ndarray) -> None:
    """The error for the first entry flagged in ``bad`` (rows of a 1-d or 2-d array)."""
    if not bad.any():
        return
    at = np.argwhere(bad)[0]
    place = f"row {at[0]}" if values.ndim == 1 else f"row {at[0]} column {at[1]}"
    value = values[tuple(at)]
    shown = f"{value:.6g}" if values.dtype.kind == "f" else str(value)
    raise DataError(f"{where}: {key} {place} is {shown}, expected {expected}")


def _check_simplex(where: str, soft: np.ndarray) -> None:
    _first_bad(where, "soft_labels", ~np.isfinite(soft) | (soft < 0), "a finite probability ≥ 0", soft)
    sums = soft.astype(np.float64).sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1) > SIMPLEX_TOLERANCE)
    if len(bad):
        raise DataError(f"{where}: soft_labels row {bad[0]} sums to {sums[bad[0]]:.6g}, expected 1 (within {SIMPLEX_TOLERANCE:g})")


def _check_files(where: str, files: list[str], dataset: str) -> None:
    if dataset != FOLDER_DATASET:
        named = [i for i, f in enumerate(files) if f]
        if named:
            raise DataError(f"{where}: files row {named[0]} is {files[named[0]]!r}, expected '' (file names are for {FOLDER_DATASET} files)")
        return
    empty = [i for i, f in enumerate(files) if not f]
    if empty:
        raise DataError(f"{where}: files row {empty[0]} is empty, expected the image's path inside the folder")
    seen: dict[str, int] = {}
    for row, name in enumerate(files):
        if name in seen:
            raise DataError(f"{where}: files rows {seen[name]} and {row} both name {name!r}, expected one row per image")
        seen[name] = row


def _check_counts(where: str, answers: dict, images: dict) -> None:
    """indices and n_answers must be what the answers say (the module doc's invariants)."""
    rated = answers["ratings"].astype(np.int64).sum(axis=1) > 0
    found, counts = np.unique(answers["answer_index"][rated], return_counts=True)
    indices = images["indices"]
    if not np.array_equal(found, indices):
        extra = np.setdiff1d(indices, found)
        lacking = np.setdiff1d(found, indices)
        what = (f"indices {format_ranges(extra[:5])} have no answer that is not all zero" if len(extra)
                else f"answers rate images {format_ranges(lacking[:5])}, which have no row")
        raise DataError(f"{where}: indices must be the images with an answer that is not all zero; {what}")
    differ = np.flatnonzero(counts != images["n_answers"])
    if len(differ):
        row = int(differ[0])
        raise DataError(f"{where}: n_answers row {row} is {images['n_answers'][row]}, but image {indices[row]} has {_count(counts[row], 'answer that is', 'answers that are')} not all zero")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _read_only(value):
    if isinstance(value, np.ndarray):
        value.setflags(write=False)
    return value


def attach_soft_labels(dataset: Dataset, labels: SoftLabelFile, source: str) -> Dataset:
    """``dataset`` with the file's split cut to the images the file labels (in the order of its
    ``indices``), carrying its soft labels; ``source`` names the file in messages and the report."""
    if labels.dataset != dataset.name:
        raise DataError(f"{source} holds soft labels of dataset {labels.dataset!r}, not of {dataset.name!r} (the dataset being loaded)")
    if dataset.name == FOLDER_DATASET:
        raise DataError(f"{source}: soft labels of an image folder are matched by file name when the folder is read: "
                        f"--dataset {FOLDER_DATASET} --data-option path=DIR --data-option soft_labels={source}")
    check_class_names(source, labels.class_names, tuple(dataset.class_names), f"{dataset.name}'s")
    split = _split_of(dataset, labels.split, source)
    if labels.num_images == 0:
        raise DataError(f"{source}: labels no image (every answer is all zero); nothing to attach")
    position = {int(s): i for i, s in enumerate(split.source_index.tolist())}
    missing = [int(i) for i in labels.indices if int(i) not in position]
    if missing:
        raise DataError(f"{source}: {len(missing)} of the file's {labels.num_images} indices are not images of {dataset.name} {labels.split} (first: {format_ranges(missing[:5])})")
    rows = torch.tensor([position[int(i)] for i in labels.indices], dtype=torch.int64)
    here = split.labels[rows].numpy()
    differ = np.flatnonzero((labels.true_labels >= 0) & (here != labels.true_labels))
    if len(differ):
        raise DataError(
            f"{source}: {len(differ)} of {labels.num_images} images have a true label other than {dataset.name}'s "
            f"(indices {', '.join(str(i) for i in labels.indices[differ[:5]])}); the file does not belong to this data"
        )
    cut = replace(split.subset(rows), soft_labels=torch.from_numpy(labels.soft_labels.copy()))
    report = {**dataset.report, "soft_labels": labels.summary(source, len(split) - len(rows))}
    return replace(dataset.with_splits(**{labels.split: cut}), report=report)


def _split_of(dataset: Dataset, split: str, source: str):
    here = [s for s in ("train", "test", "val") if getattr(dataset, s) is not None]
    if split not in here:
        raise DataError(f"{source}: split {split!r} is not a split of {dataset.name} (it has {', '.join(here)})")
    return getattr(dataset, split)


def check_class_names(source: str, theirs: tuple[str, ...], ours: tuple[str, ...], whose: str) -> None:
    """Equal names in equal order, else an error that says how they differ."""
    if theirs == ours:
        return
    extra, lacking = [n for n in theirs if n not in ours], [n for n in ours if n not in theirs]
    if extra or lacking:
        how = "; ".join(part for part in (f"only in the file: {extra}" if extra else "", f"only in {whose}: {lacking}" if lacking else "") if part)
    else:
        at = next(i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b)
        how = f"same names in another order (position {at}: {theirs[at]!r} in the file, {ours[at]!r} in {whose})"
    raise DataError(f"{source}: class names {list(theirs)} differ from {whose} {list(ours)}; {how}")
