"""Export a campaign's answers as a soft-label file that ``labelrobust train`` reads.

``labelrobust annotate export --db labels.sqlite --out softlabels.npz`` writes the NPZ format
"labelrobust-soft-labels" (version 1; every key in docs/annotate.md), read back by
``labelrobust.data.soft_label_file`` and used with
``labelrobust train --dataset cifar10 --data-option soft_labels=softlabels.npz --label-space soft``.

Per answer (M rows, all-zero answers included): ``ratings``, ``answer_index``,
``answer_annotator``, ``answer_time``. Per image (N rows, the images with at least one
answer that is not all zero): ``indices``, ``files``, ``soft_labels``, ``mean_ratings``,
``n_answers``, ``true_labels``.

Several answers of one image are averaged after normalising each (every participant weighs
the same, whatever their own scale use):

    q_i = (1 / |A_i|) Σ_{a ∈ A_i} r_a / Σ_k r_{a,k},

over the answers A_i of image i whose ratings are not all zero; an answer of all zeros says
"none of these classes" and carries no label, as in the survey (methods.md §1).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.engine import Engine

from labelrobust.annotate.store import AnswerTable, Campaign, answer_table
from labelrobust.atomic import atomic_write_bytes
# the reader owns the format: its name, version and the folder dataset's name are defined once, there
from labelrobust.data.soft_label_file import FOLDER_DATASET, FORMAT, FORMAT_VERSION
from labelrobust.errors import ConfigError, OutputError


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    answers: int
    all_zero_answers: int
    images: int
    annotators: int


def per_image_labels(table: AnswerTable, num_classes: int) -> dict[str, np.ndarray]:
    """The per-image keys: the mean normalised answer (module doc) of every image with a label."""
    totals = table.ratings.sum(axis=1)
    rated = totals > 0
    indices = np.unique(table.image[rated])
    row = np.searchsorted(indices, table.image[rated])
    normalised = table.ratings[rated].astype(np.float64) / totals[rated, None]
    n = np.bincount(row, minlength=len(indices)).astype(np.int64)
    soft = np.zeros((len(indices), num_classes))
    mean = np.zeros((len(indices), num_classes))
    np.add.at(soft, row, normalised)
    np.add.at(mean, row, table.ratings[rated].astype(np.float64))
    files = np.full(len(indices), "", dtype=object)
    labels = np.full(len(indices), -1, dtype=np.int64)
    files[row] = table.key[rated]
    labels[row] = table.true_label[rated]
    return {
        "indices": indices.astype(np.int64),
        "files": files.astype(str),
        "soft_labels": (soft / n[:, None]).astype(np.float32),
        "mean_ratings": (mean / n[:, None]).astype(np.float32),
        "n_answers": n,
        "true_labels": labels,
    }


def export_arrays(table: AnswerTable, campaign: Campaign, *, anonymise: bool = False) -> dict[str, np.ndarray]:
    """Every key of the export file, as arrays (no object arrays: the file loads without pickle)."""
    names = [f"P{i + 1}" for i in range(len(table.annotator_names))] if anonymise else list(table.annotator_names)
    return {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION),
        "campaign": np.array(campaign.name),
        "dataset": np.array(campaign.dataset if campaign.kind == "dataset" else FOLDER_DATASET),
        "split": np.array(campaign.split),
        "folder": np.array(campaign.folder or ""),
        "class_names": np.array(campaign.class_names, dtype=str),
        "max_rating": np.array(campaign.max_rating),
        "ratings": table.ratings.astype(np.int16),
        "answer_index": table.image.astype(np.int64),
        "answer_annotator": table.annotator.astype(np.int64),
        "answer_time": table.time.astype(np.float64),
        "annotators": np.array(names, dtype=str).reshape(-1),
        **per_image_labels(table, len(campaign.class_names)),
    }


def export_soft_labels(engine: Engine, campaign: Campaign, out: str | Path, *, anonymise: bool = False,
                       force: bool = False) -> ExportSummary:
    """Write the campaign's export file to ``out`` (atomically; an existing file needs ``force``)."""
    out = Path(out)
    if out.suffix != ".npz":
        raise ConfigError(f"--out {out}: the export is an .npz file; give a name ending in .npz")
    if out.is_dir():
        raise OutputError(f"--out {out} is a folder; give a file name ending in .npz")
    if out.exists() and not force:
        raise OutputError(f"--out {out} exists; pass --force to replace it")
    table = answer_table(engine, campaign)
    if len(table) == 0:
        raise ConfigError(f"campaign {campaign.name!r} has no answers yet; nothing to export")
    arrays = export_arrays(table, campaign, anonymise=anonymise)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(out, buffer.getvalue())
    return ExportSummary(
        path=out, answers=len(table), all_zero_answers=int((table.ratings.sum(axis=1) == 0).sum()),
        images=len(arrays["indices"]), annotators=len(table.annotator_names),
    )
