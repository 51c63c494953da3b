"""Running a model over a split, batch by batch, without touching its mode or gradients; and the
small facts every evaluation records (which device the model is on, which samples were used)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from labelrobust.attacks.base import model_device
from labelrobust.data import ImageSet
from labelrobust.errors import ConfigError


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Put ``model`` in eval mode and restore its previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def model_outputs(model: torch.nn.Module, images: ImageSet, batch_size: int = 256, device: str | torch.device | None = None) -> Tensor:
    """Raw model outputs (N × out_dim) for every sample of ``images``, in eval mode, on the CPU.

    Each batch goes to ``device`` (None: wherever the model is) and its outputs come back."""
    positive_int(batch_size, "batch_size")
    device = model_device(model) if device is None else device
    outputs = []
    with eval_mode(model):
        for start in range(0, len(images), batch_size):
            x = images.float_images(slice(start, start + batch_size)).to(device)
            outputs.append(model(x).float().cpu())
    return torch.cat(outputs) if outputs else torch.empty(0)


def positive_int(value: object, what: str) -> int:
    """``value`` if it is an integer ≥ 1, else a one-line ConfigError naming ``what``.

    The library functions call it, so the Python API refuses ``batch_size=0`` exactly as the
    command line refuses ``--batch-size 0``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")
    return value


def first_samples(images: ImageSet, n: int | None) -> ImageSet:
    """The first ``n`` samples of a split (all of them when ``n`` is None or larger)."""
    if n is None:
        return images
    positive_int(n, "n")
    return images.subset(torch.arange(min(n, len(images))))


def sample_identity(images: ImageSet) -> dict:
    """How many samples and which: a SHA-256 of their positions in the source and their labels.

    Stored with every result, so results computed on other samples are told apart."""
    digest = hashlib.sha256()
    digest.update(images.source_index.to(torch.int64).contiguous().numpy().tobytes())
    digest.update(images.labels.to(torch.int64).contiguous().numpy().tobytes())
    return {"n": len(images), "sha256": digest.hexdigest()}
