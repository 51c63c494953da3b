"""Tiny real runs on scikit-learn's digits that the analysis tests share, trained once per
session through ``labelrobust.training.train`` (a few seconds in all)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labelrobust.config import load_config
from labelrobust.label_metrics.metric import LabelMetric
from labelrobust.training import train

_RUNS: dict[str, dict[str, Path]] = {}

COMMON = {
    "data.name": "digits", "data.train_size": 300, "data.test_size": 100, "model.name": "fc", "model.options": {"hidden": 32, "depth": 1},
    "epochs": 2, "batch_size": 32, "optim.lr": 0.1,
}
VARIANTS = {
    "standard": {},
    "pgd": {"method.name": "at", "method.params": {"eps": 0.1, "steps": 3}},
    "codes": {"labels.name": "binary", "epochs": 1},
    "three": {"data.classes": [0, 1, 2], "epochs": 1},
}


def analysis_runs(tmp_path_factory) -> dict[str, Path]:
    """``{"standard", "pgd", "codes", "three"}`` → run directories: standard and PGD-trained
    one-hot runs, a binary-code run (it can abstain) and a run on three classes only."""
    if "runs" not in _RUNS:
        out = tmp_path_factory.mktemp("analysis-runs")
        _RUNS["runs"] = {
            name: train(load_config(None, list({**COMMON, **extra, "out": str(out), "name": name}.items())), quiet=True)
            for name, extra in VARIANTS.items()
        }
    return _RUNS["runs"]


def digit_names(k: int = 10) -> tuple[str, ...]:
    return tuple(str(i) for i in range(k))


def random_metric(k: int = 10, seed: int = 0) -> LabelMetric:
    """A random symmetric metric with zero diagonal over the digit class names."""
    rng = np.random.default_rng(seed)
    m = rng.random((k, k))
    m = m + m.T
    np.fill_diagonal(m, 0.0)
    return LabelMetric(m, digit_names(k), "random")


def zero_one_metric(k: int = 10) -> LabelMetric:
    return LabelMetric(1.0 - np.eye(k), digit_names(k), "0-1")
