"""Soft CIFAR-10: one participant's 0–4 ratings of all ten classes for each image of CIFAR-10
training batch 1 (Tyrväinen, Lensink, Greif, Haber, Tenorio, "Using Soft Labeling to Defend
Against Adversarial Attacks"; docs/methods.md §1).

The survey file ``softcifar10/survey_answers`` is a Python pickle as published: a list of
10,000 tuples ``(ratings, hard_label)`` in the order of ``data_batch_1``. It is untrusted
input, so it is read with an unpickler that admits no globals at all (the file needs only
list, tuple and int opcodes), and every row is checked.

Soft label = ratings / Σ ratings. Rows rated all zero carry no label and are dropped. Each
row's hard label is compared with CIFAR-10's own label for that image: a mismatch means the
row is not aligned with its image (on the published file, rows 102–198 hold the answers of
the images one position earlier), so such rows are dropped or refused:
``on_mismatch="drop-span"`` (default) drops every row from the first to the last mismatch —
inside a shifted stretch, a row whose label agrees does so only by chance (1 in 10) and is
misaligned all the same; ``"drop"`` drops only the rows whose label differs; ``"refuse"``
raises. The study split is by original index: [0, 7000) train, [7000, 9000) val,
[9000, 10000) test.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from labelrobust.data.base import Dataset, ImageSet, format_ranges, require_file
from labelrobust.data.catalog import DATASETS
from labelrobust.data.cifar import CIFAR10, download_cifar, read_cifar_batch, read_cifar_names
from labelrobust.data.safe_pickle import load_restricted
from labelrobust.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

SURVEY_FILE = Path("softcifar10") / "survey_answers"
SURVEY_SOURCE = (
    "the soft CIFAR-10 survey of Tyrväinen et al., 'Using Soft Labeling to Defend Against "
    "Adversarial Attacks' (file survey_answers)"
)
NUM_CLASSES = 10
MAX_RATING = 4
# Study split by original index (methods.md §1: 7,000 train / 2,000 val / 1,000 test).
TRAIN_END, VAL_END = 7000, 9000
MISMATCH_MODES = ("drop-span", "drop", "refuse")


@dataclass(frozen=True)
class Survey:
    """Validated survey rows: ``ratings`` int64 N×10 in 0..4, ``labels`` int64 N in 0..9."""

    ratings: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def _is_int(value: object) -> bool:
    # bool is an int subclass, but True/False in a rating list means a corrupt row
    return isinstance(value, int) and not isinstance(value, bool)


def validate_rows(rows: object, source: str) -> Survey:
    """Check rows of the form ``(ratings: 10 ints in 0..4, label: int in 0..9)``.

    A malformed row raises DataError naming ``source``, the row index and what is wrong.
    """
    if not isinstance(rows, list):
        raise DataError(f"{source}: expected a list of (ratings, label) tuples, found {type(rows).__name__}")
    ratings: list[Sequence[int]] = []
    labels: list[int] = []
    for i, row in enumerate(rows):
        where = f"{source}: row {i}"
        if not isinstance(row, tuple):
            raise DataError(
                f"{where} is a {type(row).__name__} ({row!r:.80}), expected a tuple (ratings, label)"
            )
        if len(row) != 2:
            raise DataError(f"{where} is a tuple of {len(row)} items, expected 2: (ratings, label)")
        values, label = row
        if not isinstance(values, (list, tuple)) or len(values) != NUM_CLASSES:
            length = len(values) if isinstance(values, (list, tuple)) else type(values).__name__
            raise DataError(f"{where}: ratings must be a list of {NUM_CLASSES} ints, got {length}")
        for k, v in enumerate(values):
            if not _is_int(v) or not 0 <= v <= MAX_RATING:
                raise DataError(
                    f"{where}: rating {v!r} for class {k} is not an int in 0..{MAX_RATING}"
                )
        if not _is_int(label) or not 0 <= label < NUM_CLASSES:
            raise DataError(f"{where}: label {label!r} is not an int in 0..{NUM_CLASSES - 1}")
        ratings.append(values)
        labels.append(label)
    return Survey(
        ratings=torch.tensor(ratings, dtype=torch.int64).reshape(len(rows), NUM_CLASSES),
        labels=torch.tensor(labels, dtype=torch.int64),
    )


def read_survey(path: Path) -> Survey:
    """The survey rows of ``path``, read with no globals admitted and validated row by row."""
    return validate_rows(load_restricted(path, {}), str(path))


def rating_means(
    survey: Survey | Sequence[tuple[Sequence[int], int]], *, skip_unrated: bool = False
) -> Tensor:
    """Mean rating per true class: a 10×10 float64 tensor, row = true class, column = rated class.

    The true class is each row's own hard label. With all rows (unrated ones included), this
    reproduces the table of methods.md §1 (diagonal plane 3.21 … truck 3.38, cat→dog 1.70).
    A class with no rows gives a row of NaN.
    """
    if isinstance(survey, Dataset):
        raise ConfigError(
            "rating_means needs the raw 0-4 ratings, which a Dataset does not keep (its soft "
            "labels are normalised); pass read_survey(root / SURVEY_FILE) or the survey rows"
        )
    if not isinstance(survey, Survey):
        survey = validate_rows(list(survey), "rating_means rows")
    ratings = survey.ratings.to(torch.float64)
    labels = survey.labels
    if skip_unrated:
        rated = survey.ratings.sum(dim=1) > 0
        ratings, labels = ratings[rated], labels[rated]
    sums = torch.zeros((NUM_CLASSES, NUM_CLASSES), dtype=torch.float64).index_add_(0, labels, ratings)
    counts = torch.bincount(labels, minlength=NUM_CLASSES).to(torch.float64)
    return sums / counts[:, None]


def _check_on_mismatch(on_mismatch: str) -> None:
    if on_mismatch not in MISMATCH_MODES:
        raise ConfigError(
            f"softcifar10 option on_mismatch must be one of {', '.join(MISMATCH_MODES)}, got {on_mismatch!r}"
        )


def aligned_rows(survey: Survey, cifar_labels: Tensor, on_mismatch: str, survey_source: str, batch_source: str) -> Tensor:
    """Bool N: the survey rows taken as aligned with the CIFAR-10 image at the same index.

    A row whose hard label differs from CIFAR-10's is not aligned. ``"drop-span"`` also drops
    every row between the first and the last such row (inside a shifted stretch, agreement is
    chance); ``"drop"`` drops only the differing rows; ``"refuse"`` raises DataError.
    """
    _check_on_mismatch(on_mismatch)
    mismatch = torch.nonzero(survey.labels != cifar_labels).flatten()
    if on_mismatch == "refuse" and len(mismatch):
        raise DataError(
            f"{survey_source}: {len(mismatch)} rows have a hard label that differs from CIFAR-10's "
            f"label of the image at the same index in {batch_source} (rows {format_ranges(mismatch.tolist())}); "
            "the survey is not aligned with its images there. Use on_mismatch='drop-span' or 'drop' to drop them"
        )
    keep = survey.labels == cifar_labels
    if on_mismatch == "drop-span" and len(mismatch):
        index = torch.arange(len(keep))
        keep &= (index < mismatch.min()) | (index > mismatch.max())
    return keep


def read_survey_with_images(root: Path):
    """(survey path, batch path, survey, images, CIFAR-10 labels, class names) of ``root``: the
    survey and ``data_batch_1``, checked to have one row per image."""
    survey_path = require_file("softcifar10", root, SURVEY_FILE, downloadable=False, source=SURVEY_SOURCE)
    folder = Path(CIFAR10.folder)
    batch_path = require_file("softcifar10", root, folder / CIFAR10.train_files[0], downloadable=True)
    meta_path = require_file("softcifar10", root, folder / CIFAR10.meta_file, downloadable=True)
    survey = read_survey(survey_path)
    images, cifar_labels = read_cifar_batch(batch_path, CIFAR10.label_key, CIFAR10.num_classes)
    class_names = read_cifar_names(meta_path, CIFAR10.names_key, CIFAR10.num_classes)
    if len(survey) != len(cifar_labels):
        raise DataError(
            f"{survey_path} has {len(survey)} rows but {batch_path} has {len(cifar_labels)} "
            "images; the survey must have one row per image of data_batch_1, in order"
        )
    return survey_path, batch_path, survey, images, cifar_labels, class_names


@DATASETS.register("softcifar10", "the soft CIFAR-10 survey over CIFAR-10 batch 1 (7,000/2,000/1,000)")
def load_softcifar10(root: Path, download: bool, on_mismatch: str = "drop-span") -> Dataset:
    """Soft CIFAR-10 with the study's 7,000/2,000/1,000 split (after dropping rows).

    Images and hard labels come from CIFAR-10 ``data_batch_1``; ``download`` fetches CIFAR-10
    only (the survey must be provided). ``on_mismatch``: ``"drop-span"`` every row from the
    first to the last row whose hard label differs from CIFAR-10's, ``"drop"`` only those
    rows, or ``"refuse"`` the file.
    """
    _check_on_mismatch(on_mismatch)
    if download:
        download_cifar(root, CIFAR10)
    survey_path, batch_path, survey, images, cifar_labels, class_names = read_survey_with_images(root)

    totals = survey.ratings.sum(dim=1)
    unrated = torch.nonzero(totals == 0).flatten()
    mismatch = torch.nonzero(survey.labels != cifar_labels).flatten()
    keep = (totals > 0) & aligned_rows(survey, cifar_labels, on_mismatch, f"{survey_path}", f"{batch_path}")
    index = torch.arange(len(keep))
    soft = survey.ratings.to(torch.float32) / totals.clamp(min=1).to(torch.float32)[:, None]
    full = ImageSet(images, cifar_labels, soft_labels=soft)

    def split(lo: int, hi: int) -> ImageSet:
        return full.subset(torch.nonzero(keep & (index >= lo) & (index < hi)).flatten())

    train, val, test = split(0, TRAIN_END), split(TRAIN_END, VAL_END), split(VAL_END, len(keep))
    report: dict = {
        "rows": len(survey),
        "no_rating_count": len(unrated),
        "no_rating_ranges": format_ranges(unrated.tolist()),
        "label_mismatch_count": len(mismatch),
        "label_mismatch_ranges": format_ranges(mismatch.tolist()),
        "rows_kept": int(keep.sum()),
        # methods.md §1 convention (all rows, the survey's own labels), to compare with the paper
        "rating_means_diagonal": [round(v, 2) for v in rating_means(survey).diagonal().tolist()],
        "train": len(train),
        "val": len(val),
        "test": len(test),
    }
    if len(mismatch):
        # Rows inside the mismatching stretch whose label agrees may agree only by chance
        # (1 in 10): say how many were kept there, so a user can judge the alignment.
        lo, hi = int(mismatch.min()), int(mismatch.max())
        report["label_mismatch_span"] = f"{lo}-{hi}"
        report["kept_inside_mismatch_span"] = int(keep[lo : hi + 1].sum())
    report["on_mismatch"] = on_mismatch
    logger.info("softcifar10 survey %s: %s", survey_path, report)
    return Dataset(
        name="softcifar10",
        class_names=class_names,
        train=train,
        val=val,
        test=test,
        mean=CIFAR10.mean,
        std=CIFAR10.std,
        report=report,
    )
