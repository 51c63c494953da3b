"""Clean (un-attacked) evaluation of a model on a split, and of a run directory."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from labelrobust.atomic import atomic_write_text
from labelrobust.data import ImageSet
from labelrobust.errors import CheckpointError, ConfigError
from labelrobust.labels import LabelSpace
from labelrobust.metrics.classification import abstain_rate, accuracy, confusion_matrix, set_accuracy, target_accuracy
from labelrobust.metrics.inference import model_outputs, positive_int, sample_identity
from labelrobust.metrics.soft_labels import label_vector_distances

FORMAT = "labelrobust-clean-eval-2"


@dataclass(frozen=True)
class CleanReport:
    """Accuracy, abstain rate and confusion matrix; label-vector distances where the split has soft labels
    (against the soft labels) and always against one-hot hard labels (``hard_distances``).

    Decisions are ``space.decide(outputs, labels)``: for a multi-label space ``accuracy`` is
    therefore the target accuracy (the class of object 0 is in the predicted set), and
    ``set_accuracy`` (predicted set = label set) and ``target_accuracy`` are filled in; they are
    None for single-label spaces (``docs/multilabel.md``)."""

    n: int
    accuracy: float
    abstain_rate: float
    confusion: list[list[int]]
    class_names: list[str]
    soft_distances: dict[str, float] | None = None
    hard_distances: dict[str, float] = field(default_factory=dict)
    set_accuracy: float | None = None
    target_accuracy: float | None = None
    weights: dict | None = None
    """Which weights file was evaluated and its SHA-256 (set for a run directory's evaluation)."""
    samples: dict | None = None
    """The split, the number of samples and a SHA-256 of which ones (see ``sample_identity``)."""

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=2)

    def provenance(self) -> dict[str, object]:
        """Flat columns saying what was evaluated: weights file, its SHA-256, the samples' SHA-256."""
        weights, samples = self.weights or {}, self.samples or {}
        return {"weights": weights.get("weights"), "weights_sha256": weights.get("sha256"), "samples_sha256": samples.get("sha256")}

    def confusion_csv(self) -> str:
        """The confusion matrix with an abstain column; for a run's evaluation the provenance
        columns repeat on every row, so the table stays rectangular and says which weights it describes."""
        out = io.StringIO()
        writer = csv.writer(out)
        extra = self.provenance() if self.weights else {}
        writer.writerow(["true \\ decoded", *self.class_names, "abstain", *extra])
        for name, row in zip(self.class_names, self.confusion):
            writer.writerow([name, *row, *extra.values()])
        return out.getvalue()


def evaluate_clean(
    model: torch.nn.Module,
    space: LabelSpace,
    images: ImageSet,
    class_names: list[str] | tuple[str, ...],
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> CleanReport:
    """Decode every sample with ``space`` and measure the decisions and the predicted label vectors.
    ``device``: where the batches go (None: the model's device); the metrics are computed on the CPU."""
    outputs = model_outputs(model, images, batch_size, device)
    pred = space.decide(outputs, images.labels)
    probs = space.probabilities(outputs)
    hard = torch.nn.functional.one_hot(images.labels, space.num_classes).float()
    return CleanReport(
        **multi_label_accuracies(space, outputs, images),
        n=len(images),
        accuracy=accuracy(pred, images.labels),
        abstain_rate=abstain_rate(pred),
        confusion=confusion_matrix(pred, images.labels, space.num_classes).tolist(),
        class_names=list(class_names),
        soft_distances=None if images.soft_labels is None else label_vector_distances(probs, images.soft_labels),
        hard_distances=label_vector_distances(probs, hard),
    )


def multi_label_accuracies(space: LabelSpace, outputs: torch.Tensor, images: ImageSet) -> dict[str, float | None]:
    """``set_accuracy`` (needs the split's label sets) and ``target_accuracy`` of a multi-label
    space's predicted sets; nothing for a single-label space."""
    if not space.multi_label:
        return {}
    sets = space.predict_sets(outputs)
    return {
        "set_accuracy": None if images.label_sets is None else set_accuracy(sets, images.label_sets),
        "target_accuracy": target_accuracy(sets, images.labels),
    }


def evaluate_run(
    run_dir: str | Path,
    split: str = "test",
    weights: str = "latest",
    batch_size: int = 256,
    device: str | None = None,
    out: str | Path | None = None,
) -> CleanReport:
    """Evaluate a trained run on its ``test`` (or ``val``) split; write ``clean-<split>.json``,
    ``clean-<split>.csv`` (one summary row) and ``confusion-<split>.csv`` into ``out`` (default
    ``RUN_DIR/eval``), each recording the weights file, its SHA-256 and the samples.
    ``device``: None = the run's training device if this machine has it, else the CPU."""
    positive_int(batch_size, "batch_size")
    if split not in ("test", "val"):
        raise ConfigError(f"split must be 'test' or 'val', got {split!r}")
    out_dir = prepare_output(run_dir, out, device)
    exp, model_id = load_evaluated_run(run_dir, weights, device)
    images = {"test": exp.dataset.test, "val": exp.dataset.val}[split]
    if images is None:
        raise ConfigError(f"run {run_dir} has no val split (trained with data.val_size 0); evaluate --split test")
    report = evaluate_clean(exp.model, exp.space, images, exp.dataset.class_names, batch_size, exp.config.device)
    report = replace(report, weights=model_id, samples={"split": split, **sample_identity(images)})
    atomic_write_text(out_dir / f"clean-{split}.json", report.to_json())
    atomic_write_text(out_dir / f"confusion-{split}.csv", report.confusion_csv())
    atomic_write_text(out_dir / f"clean-{split}.csv", summary_csv([{**summary_row(exp.config.run_name(), report), **report.provenance()}]))
    return report


def prepare_output(run_dir: str | Path, out: str | Path | None, device: str | None) -> Path:
    """Check what can be checked before a model is loaded: the run exists, ``device`` exists on
    this machine, and the results folder (``out``, default ``RUN_DIR/eval``) is writable."""
    from labelrobust.atomic import require_writable_dir
    from labelrobust.devices import resolve_device
    from labelrobust.runs import RunPaths, read_config

    read_config(run_dir)
    if device is not None:
        resolve_device(device, "--device")
    if out is not None:
        return require_writable_dir(out, "output folder")
    return require_writable_dir(RunPaths(Path(run_dir)).eval_dir, "evaluation folder", "pass --out DIR to write the results elsewhere")


def load_evaluated_run(run_dir: str | Path, weights: str = "latest", device: str | None = None):
    """``load_run`` plus what the results will record about the weights: ``(experiment,
    {"weights": "latest", "file": "model.safetensors", "sha256": ...})``. The file is hashed
    before and after loading, so weights replaced meanwhile (a run still training) are refused
    rather than mislabelled."""
    from labelrobust.runs import RunPaths, load_run, weights_sha256

    paths = RunPaths(Path(run_dir))
    path = {"latest": paths.weights, "best-val": paths.best_weights}.get(weights)
    before = weights_sha256(path) if path is not None and path.is_file() else None
    exp = load_run(run_dir, weights=weights, device=device)  # refuses an unknown or missing weights file
    if weights_sha256(path) != before:
        raise CheckpointError(f"{path} changed while it was being loaded (is the run still training?); evaluate again when it is done")
    return exp, {"weights": weights, "file": path.name, "sha256": before}


def summary_row(run: str, report: CleanReport) -> dict[str, object]:
    """One flat table row of a report (what the CLI prints and the CSV holds)."""
    row: dict[str, object] = {"run": run, "n": report.n, "accuracy": report.accuracy, "abstain_rate": report.abstain_rate}
    for key in ("set_accuracy", "target_accuracy"):
        if getattr(report, key) is not None:
            row[key] = getattr(report, key)
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
