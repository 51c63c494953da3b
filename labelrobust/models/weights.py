"""Model weights as safetensors files (never pickles): save, read, and load into a model."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from labelrobust.atomic import atomic_write_bytes
from labelrobust.errors import CheckpointError

MODEL_PREFIX = "model."
"""Key prefix of the model's tensors inside a training checkpoint."""


def save_weights(path: str | Path, model: torch.nn.Module) -> None:
    """Model weights alone (what a user ships), atomically."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, save(tensors))


def load_weights(path: str | Path, model: torch.nn.Module) -> None:
    """Load weights saved by ``save_weights`` (or a checkpoint) into ``model``; strict key match."""
    tensors, _ = read_safetensors(path)
    load_model_tensors(path, tensors, model)


def load_model_tensors(path: str | Path, tensors: dict[str, torch.Tensor], model: torch.nn.Module) -> None:
    if any(k.startswith(MODEL_PREFIX) for k in tensors):
        tensors = {k[len(MODEL_PREFIX) :]: v for k, v in tensors.items() if k.startswith(MODEL_PREFIX)}
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"weights in {path} do not fit the model of this run: {err}") from err


def read_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no weights file or checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is unreadable ({err}); expected a safetensors file written by labelrobust") from err
