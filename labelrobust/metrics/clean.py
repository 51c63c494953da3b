"""Clean (un-attacked) evaluation of a model on a split, and of a run directory."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from labelrobust.atomic import atomic_write_text
from labelrobust.data import ImageSet
from labelrobust.labels import LabelSpace
from labelrobust.metrics.classification import abstain_rate, accuracy, confusion_matrix
from labelrobust.metrics.inference import model_outputs
from labelrobust.metrics.soft_labels import label_vector_distances


@dataclass(frozen=True)
class CleanReport:
    """Accuracy, abstain rate and confusion matrix; label-vector distances where the split has soft labels
    (against the soft labels) and always against one-hot hard labels (``hard_distances``)."""

    n: int
    accuracy: float
    abstain_rate: float
    confusion: list[list[int]]
    class_names: list[str]
    soft_distances: dict[str, float] | None = None
    hard_distances: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def confusion_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["true \\ decoded", *self.class_names, "abstain"])
        for name, row in zip(self.class_names, self.confusion):
            writer.writerow([name, *row])
        return out.getvalue()


def evaluate_clean(
    model: torch.nn.Module,
    space: LabelSpace,
    images: ImageSet,
    class_names: list[str] | tuple[str, ...],
    batch_size: int = 256,
    device: str = "cpu",
) -> CleanReport:
    """Decode every sample with ``space`` and measure the decisions and the predicted label vectors."""
    outputs = model_outputs(model, images, batch_size, device)
    pred = space.decode(outputs)
    probs = space.probabilities(outputs)
    hard = torch.nn.functional.one_hot(images.labels, space.num_classes).float()
    return CleanReport(
        n=len(images),
        accuracy=accuracy(pred, images.labels),
        abstain_rate=abstain_rate(pred),
        confusion=confusion_matrix(pred, images.labels, space.num_classes).tolist(),
        class_names=list(class_names),
        soft_distances=None if images.soft_labels is None else label_vector_distances(probs, images.soft_labels),
        hard_distances=label_vector_distances(probs, hard),
    )


def evaluate_run(run_dir: str | Path, split: str = "test", weights: str = "latest", batch_size: int = 256) -> CleanReport:
    """Evaluate a trained run on its ``test`` (or ``val``) split; write ``eval/clean-<split>.json``,
    ``eval/clean-<split>.csv`` (one summary row) and ``eval/confusion-<split>.csv`` into the run."""
    from labelrobust.errors import ConfigError
    from labelrobust.runs import RunPaths, load_run

    exp = load_run(run_dir, weights=weights)
    splits = {"test": exp.dataset.test, "val": exp.dataset.val}
    if split not in splits or splits[split] is None:
        raise ConfigError(f"split must be 'test' or 'val' (val only when the run has data.val_size > 0), got {split!r}")
    report = evaluate_clean(exp.model, exp.space, splits[split], exp.dataset.class_names, batch_size, exp.config.device)
    out = RunPaths(Path(run_dir)).eval_dir
    atomic_write_text(out / f"clean-{split}.json", report.to_json())
    atomic_write_text(out / f"confusion-{split}.csv", report.confusion_csv())
    atomic_write_text(out / f"clean-{split}.csv", summary_csv([summary_row(exp.config.run_name(), report)]))
    return report


def summary_row(run: str, report: CleanReport) -> dict[str, object]:
    """One flat table row of a report (what the CLI prints and the CSV holds)."""
    row: dict[str, object] = {"run": run, "n": report.n, "accuracy": report.accuracy, "abstain_rate": report.abstain_rate}
    if report.soft_distances is not None:
        row.update({f"soft_{k}": v for k, v in report.soft_distances.items()})
    return row


def summary_csv(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    keys = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(out, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
