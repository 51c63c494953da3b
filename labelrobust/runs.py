"""A run directory: its layout, and rebuilding a run's data, label space and model from it.

    RUN_DIR/
      config.yaml            the resolved configuration (re-runnable as is), with its format version
      dataset_report.json    what the data loader checked and found
      metrics.jsonl          one JSON object per finished epoch
      checkpoint.safetensors weights + optimiser + RNG + progress (for --resume)
      model.safetensors      the latest weights alone
      model-best-val.safetensors  the weights with the best validation accuracy (if val_size > 0)
      summary.json           written when training ends (versions, command, times, test accuracy)
      train.log              what training printed, with timestamps (appended by every call)
      eval/                  evaluation tables (CSV/JSON), each recording the weights it was computed on

A run directory that holds any *result* (checkpoint, weights, metrics, summary, evaluations)
is never overwritten without ``overwrite=True`` (``--overwrite``); ``config.yaml``,
``dataset_report.json`` and ``train.log`` alone are not results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from labelrobust.config import CONFIG_VERSION, TrainConfig, as_config, to_dict
from labelrobust.data import Dataset, load_dataset
from labelrobust.data.augment import make_augmentation
from labelrobust.devices import resolve_device
from labelrobust.errors import CheckpointError, ConfigError
from labelrobust.label_metrics import LabelMetric, resolve_metric, write_metric_csv
from labelrobust.labels import LabelSpace, make_label_space
from labelrobust.labels.registry import LABEL_SPACES
from labelrobust.models import build_model
from labelrobust.models.weights import load_weights
from labelrobust.yaml_values import load_yaml

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def dataset_report(self) -> Path:
        return self.root / "dataset_report.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint.safetensors"

    @property
    def weights(self) -> Path:
        return self.root / "model.safetensors"

    @property
    def best_weights(self) -> Path:
        return self.root / "model-best-val.safetensors"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def label_metrics(self) -> Path:
        return self.root / "label-metrics"

    @property
    def eval_dir(self) -> Path:
        return self.root / "eval"

    @property
    def log(self) -> Path:
        return self.root / "train.log"

    @property
    def result_files(self) -> tuple[Path, ...]:
        """The files a fresh training run would overwrite (``eval/`` counts too)."""
        return (self.checkpoint, self.weights, self.best_weights, self.summary, self.metrics)

    def results(self) -> list[str]:
        """The results this directory holds, described for a message
        (``["checkpoint.safetensors", "metrics.jsonl (3 epochs)", "eval/"]``)."""
        found = [p.name for p in self.result_files if p.is_file() and p != self.metrics]
        if self.metrics.is_file():
            found.append(f"{self.metrics.name} ({len(read_metrics(self.root))} epochs)")
        if self.eval_dir.is_dir() and any(self.eval_dir.iterdir()):
            found.append("eval/")
        return found

    def discard_results(self) -> None:
        """Delete the results a fresh run would rewrite (``--overwrite``); other files stay."""
        for path in self.result_files:
            path.unlink(missing_ok=True)
        if self.eval_dir.is_dir():
            shutil.rmtree(self.eval_dir)


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` is a folder a training run wrote (its config plus the data report)."""
    paths = RunPaths(Path(path))
    return paths.config.is_file() and paths.dataset_report.is_file()


@dataclass(frozen=True)
class Experiment:
    """What a config resolves to: the data, the label space and a freshly initialised model."""

    config: TrainConfig
    dataset: Dataset
    space: LabelSpace
    model: torch.nn.Module
    label_metrics: dict = dataclasses.field(default_factory=dict)
    """The label metrics the space was made with, by parameter (``cost``): what a run keeps in
    ``label-metrics/labels-<param>.csv``, so that reloading it does not recompute them."""


def build_experiment(cfg: TrainConfig, saved_metrics: Path | None = None) -> Experiment:
    """Load the data, make the label space and the model, and check they fit — before any training.

    The model is initialised from ``cfg.seed``, so the same config gives the same initial weights.
    ``saved_metrics``: a run's ``label-metrics`` folder, whose copies of the label metrics are used
    instead of resolving the config's names again (a ``visual:RUN`` or a file may have changed).
    """
    d = cfg.data
    make_augmentation(d.augment, d.augment_options)  # an unknown name or option fails here, before the data loads
    dataset = load_dataset(
        d.name,
        root=d.root,
        download=d.download,
        train_size=d.train_size,
        test_size=d.test_size,
        val_size=d.val_size,
        seed=cfg.seed if d.seed is None else d.seed,
        classes=d.classes,
        imbalance=d.imbalance,
        options=d.options,
    )
    label_params = resolved_label_params(cfg.labels.name, cfg.labels.params, dataset, saved_metrics)
    space = make_label_space(cfg.labels.name, dataset.num_classes, **label_params)
    if space.requires_soft_targets and not dataset.has_soft_labels:
        raise ConfigError(
            f"label space {space.name!r} trains on per-sample soft labels, but dataset "
            f"{dataset.name!r} has none; use a dataset with soft labels (softcifar10, cifar10h, disk2d) "
            f"or a hard-label space (onehot, smoothing)"
        )
    if space.requires_label_sets and not dataset.has_label_sets:
        raise ConfigError(
            f"label space {space.name!r} trains on multi-label sets, but dataset {dataset.name!r} has none; "
            f"use a multi-label dataset (double-mnist) or a single-label space (onehot)"
        )
    make_augmentation(d.augment, d.augment_options, dataset.input_shape)  # bad option values, on the data's shape
    torch.manual_seed(cfg.seed)
    model = build_model(
        cfg.model.name,
        input_shape=dataset.input_shape,
        out_dim=space.out_dim,
        mean=dataset.mean,
        std=dataset.std,
        **cfg.model.options,
    )
    metrics = {key: value for key, value in label_params.items() if isinstance(value, LabelMetric)}
    return Experiment(cfg, dataset, space, model.to(cfg.device), metrics)


def resolved_label_params(name: str, params: dict, dataset, saved_metrics: Path | None = None) -> dict:
    """``params`` with every label-metric parameter given as text (``wordnet``, a CSV with class
    names, ``visual:RUN``) resolved to a ``LabelMetric`` over ``dataset``'s classes, in its order
    (from ``saved_metrics/labels-<param>.csv`` when the run kept one)."""
    metric_params = getattr(LABEL_SPACES.get(name), "metric_params", ())
    out = dict(params)
    for key in metric_params:
        if isinstance(out.get(key), str):
            who = f"label space {name!r}: {key}"
            saved = None if saved_metrics is None else saved_metrics / f"labels-{key}.csv"
            if saved is not None and saved.is_file():
                kept = resolve_metric(saved, dataset.class_names, who=who)
                out[key] = dataclasses.replace(kept, source=f"{out[key]} (the run's copy, {saved.name})")
            else:
                out[key] = resolve_metric(out[key], dataset.class_names, dataset=dataset, who=who)
    return out


def write_label_metrics(paths: RunPaths, exp: Experiment) -> None:
    """Keep the label metrics the run trains with (``Experiment.label_metrics``) in its folder."""
    for key, metric in exp.label_metrics.items():
        write_metric_csv(paths.label_metrics / f"labels-{key}.csv", metric)


def read_config(run_dir: str | Path) -> TrainConfig:
    paths = RunPaths(Path(run_dir))
    if not Path(run_dir).is_dir():
        raise CheckpointError(f"{run_dir} is not a run directory: no such folder")
    if not paths.config.is_file():
        raise CheckpointError(f"{run_dir} is not a run directory: {paths.config} is missing")
    return as_config(load_yaml(paths.config.read_text(), str(paths.config)) or {}, str(paths.config))


def config_yaml(cfg: TrainConfig) -> str:
    """``config.yaml``: the format version (``CONFIG_VERSION``), then the resolved config."""
    return yaml.safe_dump({"config_version": CONFIG_VERSION, **to_dict(cfg)}, sort_keys=False)


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = RunPaths(Path(run_dir)).metrics
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load_run(run_dir: str | Path, weights: str = "latest", device: str | None = None) -> Experiment:
    """Rebuild a trained run: its data and label space, and its model with the saved weights.

    Its ``config.yaml`` may be of any format version (``labelrobust.config.upgrade_config``).

    ``weights``: ``latest`` (model.safetensors) or ``best-val`` (model-best-val.safetensors).
    ``device``: where the model and the evaluation run (``exp.config.device`` is set to it);
    None means the device the run trained on when this machine has it, else the CPU — so a run
    trained on a GPU is evaluated on a laptop and vice versa.
    """
    paths = RunPaths(Path(run_dir))
    cfg = read_config(run_dir)
    cfg = dataclasses.replace(cfg, device=_evaluation_device(cfg.device, device))
    files = {"latest": paths.weights, "best-val": paths.best_weights}
    if weights not in files:
        raise ConfigError(f"weights must be one of {', '.join(files)}, got {weights!r}")
    if not files[weights].is_file():
        raise CheckpointError(f"run {run_dir} has no {files[weights].name}; has it trained an epoch yet?")
    exp = build_experiment(cfg, paths.label_metrics)
    load_weights(files[weights], exp.model)
    exp.model.eval()
    return exp


def _evaluation_device(trained_on: str, requested: str | None) -> str:
    if requested is not None:
        return resolve_device(requested, "--device")
    try:
        return resolve_device(trained_on)
    except ConfigError:
        log.warning("the run trained on %s, which this machine lacks; using the CPU (pass --device to choose)", trained_on)
        return "cpu"


def weights_sha256(path: str | Path) -> str:
    """The SHA-256 of a weights file: what evaluation results record, to tell when they go stale."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
