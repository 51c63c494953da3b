"""The runs an analysis reads, checked alike, and their row-normalised confusion matrices.

Row-normalised confusion matrix (the study's ``C``, methods.md §4): with ``N_ij`` the number of
test samples of true class ``i`` decided as class ``j`` (``space.decide``; an abstention is a
column of its own) and ``N_i`` the number of test samples of class ``i`` (abstentions
included), ``C_ij = N_ij / N_i``. Each row is one true class divided by its count, so it sums
to 1 minus that class's abstain rate; the abstain column is left out of the K×K matrix.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from labelrobust.data import ImageSet
from labelrobust.errors import CheckpointError, ConfigError
from labelrobust.label_metrics.metric import LabelMetric
from labelrobust.metrics.classification import confusion_matrix
from labelrobust.attacks.base import model_device
from labelrobust.metrics.inference import eval_mode, first_samples, model_outputs, positive_int, sample_identity
from labelrobust.runs import Experiment, is_run_dir

log = logging.getLogger(__name__)

RunLike = str | Path | Experiment
"""A run directory, or an already loaded ``Experiment`` (e.g. from ``labelrobust.runs.load_run``)."""


@dataclass(frozen=True)
class AnalysedRun:
    """A loaded run with the name the tables use and which weights were read."""

    label: str
    experiment: Experiment
    path: str | None = None
    weights: dict = field(default_factory=dict)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.experiment.dataset.class_names)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def test_images(self, n: int | None) -> ImageSet:
        """The first ``n`` test samples, in order (all for None)."""
        return first_samples(self.experiment.dataset.test, n)

    def record(self, images: ImageSet) -> dict:
        """What a report stores about this run: its folder, weights and the samples used."""
        return {"label": self.label, "path": self.path, "dataset": self.experiment.dataset.name, "weights": self.weights, "samples": sample_identity(images)}


def load_runs(runs: Sequence[RunLike], *, weights: str = "latest", device: str | None = None) -> list[AnalysedRun]:
    """Load every run (a run directory or an ``Experiment``); a path that is not a run directory
    is a one-line ``CheckpointError``. Labels are the folder names, made unique."""
    from labelrobust.metrics.clean import load_evaluated_run

    if not runs:
        raise ConfigError("give at least one run directory")
    loaded = []
    for i, run in enumerate(runs):
        if isinstance(run, Experiment):
            loaded.append(AnalysedRun(run.config.name or f"run-{i + 1}", run))
            continue
        if not isinstance(run, (str, Path)):
            raise ConfigError(f"a run must be a run directory or an Experiment, got {type(run).__name__}")
        if not is_run_dir(run):
            raise CheckpointError(f"{run} is not a run directory (it lacks config.yaml or dataset_report.json); give a folder written by labelrobust train")
        exp, record = load_evaluated_run(run, weights=weights, device=device)
        loaded.append(AnalysedRun(Path(run).name or str(run), exp, str(run), record))
    return _unique_labels(loaded)


def _unique_labels(runs: list[AnalysedRun]) -> list[AnalysedRun]:
    labels = [r.label for r in runs]
    if len(set(labels)) == len(labels):
        return runs
    return [AnalysedRun(f"{r.label}-{i + 1}", r.experiment, r.path, r.weights) for i, r in enumerate(runs)]


def check_same_classes(runs: Sequence[AnalysedRun]) -> tuple[str, ...]:
    """The class names all runs share (same names, same order), or a one-line ConfigError."""
    first = runs[0]
    for other in runs[1:]:
        if other.class_names != first.class_names:
            raise ConfigError(
                f"runs {first.label} ({first.experiment.dataset.name}: {_names(first.class_names)}) and {other.label} "
                f"({other.experiment.dataset.name}: {_names(other.class_names)}) are not on the same classes; compare runs of one dataset"
            )
    return first.class_names


def _names(names: Sequence[str]) -> str:
    return ", ".join(names[:5]) + (" ..." if len(names) > 5 else "") + f" ({len(names)} classes)"


def warn_if_other_samples(runs: Sequence[AnalysedRun], images: Sequence[ImageSet]) -> bool:
    """Whether the runs were tested on the same samples; logs a warning when not."""
    digests = {sample_identity(i)["sha256"] for i in images}
    if len(digests) > 1:
        log.warning("the runs' test splits hold different samples (other test_size or seed); their matrices come from different test points")
    return len(digests) == 1


def resolve_for(metric, class_names: Sequence[str], run: AnalysedRun | None = None, device: str | None = None) -> LabelMetric:
    """``metric`` (a ``LabelMetric``, a K×K array or a spec such as ``wordnet`` or a CSV path)
    as a metric over ``class_names``, in that order (``labelrobust.label_metrics.resolve_metric``)."""
    from labelrobust.label_metrics import resolve_metric

    dataset = None if run is None else run.experiment.dataset
    return resolve_metric(metric, tuple(class_names), dataset=dataset, device=device, who="--metric")


def decisions(run: AnalysedRun, images: ImageSet, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw outputs (N × out_dim, CPU) and ``space.decide`` decisions on clean ``images``."""
    outputs = model_outputs(run.experiment.model, images, batch_size=batch_size)
    space = run.experiment.space
    return outputs, space.decide(outputs, space.check_hard_labels(images.labels.cpu()))


def attacked_outputs(run: AnalysedRun, images: ImageSet, attack, objective=None, *, batch_size: int = 256, seed: int = 0) -> torch.Tensor:
    """Raw outputs (N × out_dim, CPU) at the points ``attack.maximize`` finds for every sample of
    ``images`` (objective None: the attack's own, the label space's loss), seeded with ``seed``."""
    exp = run.experiment
    model, space, domain = exp.model, exp.space, exp.dataset.domain
    attack.threat.check_domain(tuple(exp.dataset.input_shape), domain, "--eps")
    device = model_device(model)
    torch.manual_seed(seed)
    outputs = []
    with eval_mode(model):
        for start in range(0, len(images), batch_size):
            x = images.float_images(slice(start, start + batch_size)).to(device)
            y = space.check_hard_labels(images.labels[start:start + batch_size]).to(device)
            x_adv = attack.maximize(model, space, x, y, objective, domain)
            with torch.no_grad():
                outputs.append(model(x_adv).float().cpu())
    return torch.cat(outputs) if outputs else torch.empty(0)


def row_normalised(counts, class_names: Sequence[str], where: str = "test split") -> np.ndarray:
    """``C_ij = N_ij / N_i`` (K×K) from counts K×K or K×(K+1) (last column: abstained).

    A class with no sample makes its row undefined: a one-line ConfigError names it."""
    counts = np.asarray(counts, dtype=np.float64)
    k = counts.shape[0]
    if counts.ndim != 2 or counts.shape[1] not in (k, k + 1):
        raise ConfigError(f"confusion counts must be K×K or K×(K+1), got shape {counts.shape}")
    totals = counts.sum(axis=1)
    empty = np.flatnonzero(totals == 0)
    if len(empty):
        missing = ", ".join(repr(class_names[i]) for i in empty[:5])
        raise ConfigError(
            f"class {missing} has no sample in the {where}; the row-normalised confusion matrix divides each class's row by its count: use more samples (raise --n)"
        )
    return counts[:, :k] / totals[:, None]


def clean_confusion(run: AnalysedRun, images: ImageSet, batch_size: int = 256) -> tuple[np.ndarray, torch.Tensor]:
    """The row-normalised clean confusion matrix of ``run`` on ``images`` and its decisions."""
    positive_int(batch_size, "batch_size")
    _, pred = decisions(run, images, batch_size)
    counts = confusion_matrix(pred, images.labels.cpu().to(torch.int64), run.num_classes)
    return row_normalised(counts.numpy(), run.class_names, f"first {len(images)} test samples of {run.label}"), pred
