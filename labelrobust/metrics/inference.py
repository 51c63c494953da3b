"""Running a model over a split, batch by batch, without touching its mode or gradients."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from labelrobust.data import ImageSet


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
def model_outputs(model: torch.nn.Module, images: ImageSet, batch_size: int = 256, device: str | torch.device = "cpu") -> Tensor:
    """Raw model outputs (N × out_dim) for every sample of ``images``, in eval mode, on the CPU."""
    outputs = []
    with eval_mode(model):
        for start in range(0, len(images), batch_size):
            x = images.float_images(slice(start, start + batch_size)).to(device)
            outputs.append(model(x).float().cpu())
    return torch.cat(outputs) if outputs else torch.empty(0)
