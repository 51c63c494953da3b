"""Tiny real DOUBLE-MNIST training runs of the multi-label study's three variants, for the tests
of training, metrics, attacks and evaluation (a few hundred samples, one epoch, a narrow
``multilabel-cnn``: seconds each on a CPU)."""

from __future__ import annotations

from pathlib import Path

from labelrobust.config import load_config
from labelrobust.training import train

TINY = {"n_train": 400, "n_test": 120}
"""Generated DOUBLE-MNIST samples per split."""

VARIANTS = {
    "plain": [],
    "l0": [("data.augment", "black-rectangle"), ("data.augment_options", {"min_size": 4, "max_size": 10})],
    "pgd-at": [("method.name", "at"), ("method.params", {"eps": 0.1, "steps": 3})],
}
"""The three training variants of methods.md §5 as config overrides: no defence, the L0
defence (a random black rectangle in every training image), PGD adversarial training."""


def overrides(data_root: Path, out: Path, name: str, *extra: tuple[str, object]) -> list[tuple[str, object]]:
    """A tiny multilabel-cnn run on DOUBLE-MNIST, as ``load_config`` overrides."""
    return [
        ("data.name", "double-mnist"), ("data.root", str(data_root)), ("data.options", dict(TINY)),
        ("model.name", "multilabel-cnn"), ("model.options", {"channels": [8, 16]}), ("labels.name", "multilabel"),
        ("epochs", 1), ("batch_size", 16), ("optim.lr", 0.05), ("out", str(out)), ("name", name), *extra,
    ]


def train_variant(data_root: Path, out: Path, variant: str) -> Path:
    """Train one variant (``VARIANTS``) into ``out/variant``; return the run directory."""
    return train(load_config(None, overrides(data_root, out, variant, *VARIANTS[variant])), quiet=True)
