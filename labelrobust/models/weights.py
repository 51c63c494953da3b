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
    """Load ``tensors`` (bare or ``model.``-prefixed keys) into ``model``, strictly.

    Weights saved for another network fail with one line that counts the missing, unexpected
    and mis-shaped keys (three examples each) and names the likely cause, instead of torch's
    list of every key.
    """
    if any(k.startswith(MODEL_PREFIX) for k in tensors):
        tensors = {k[len(MODEL_PREFIX) :]: v for k, v in tensors.items() if k.startswith(MODEL_PREFIX)}
    mismatch = describe_mismatch(tensors, model.state_dict())
    if mismatch:
        raise CheckpointError(
            f"weights in {path} do not fit the model of this run: {mismatch}. Was config.yaml edited after "
            f"training? The weights were saved for another architecture (model.name, model.options, or the "
            f"label space, which sets the head size)"
        )
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as err:  # what the key/shape comparison cannot see; torch's first line says it
        raise CheckpointError(f"weights in {path} do not fit the model of this run: {str(err).splitlines()[0]}") from None


def describe_mismatch(saved: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], examples: int = 3) -> str:
    """How ``saved`` differs from a model's ``expected`` state dict, in one line ("" if it fits):
    counts of missing, unexpected and mis-shaped keys with at most ``examples`` of each."""
    missing = [k for k in expected if k not in saved]
    unexpected = [k for k in saved if k not in expected]
    misshaped = [
        f"{k} saved {tuple(saved[k].shape)}, model {tuple(expected[k].shape)}"
        for k in expected
        if k in saved and saved[k].shape != expected[k].shape
    ]
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
        if keys:
            more = f", … {len(keys) - examples} more" if len(keys) > examples else ""
            parts.append(f"{len(keys)} {label} key{'s' if len(keys) > 1 else ''} ({'; '.join(keys[:examples])}{more})")
    return ", ".join(parts)


def read_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no weights file or checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is unreadable ({err}); expected a safetensors file written by labelrobust") from err
