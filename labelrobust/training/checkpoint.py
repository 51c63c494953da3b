"""Checkpoints as single safetensors files: weights, optimiser state, RNG state and progress.

Nothing is pickled: tensors go into the safetensors payload under prefixed keys, and the rest
(epoch, batch, metric history, optimiser hyper-parameters) into its JSON metadata. The file is
written atomically, so a kill at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save

from labelrobust.atomic import atomic_write_bytes
from labelrobust.errors import CheckpointError
from labelrobust.models.weights import MODEL_PREFIX, load_model_tensors, read_safetensors

OPTIM_PREFIX = "optim."
RNG_KEY = "rng.torch"


def save_checkpoint(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, progress: dict[str, Any]) -> None:
    """Everything a resumed run needs, in one file, atomically."""
    tensors = {MODEL_PREFIX + k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    optim_state = optimizer.state_dict()
    slots: dict[str, dict[str, Any]] = {}
    for index, state in optim_state["state"].items():
        plain = {}
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{OPTIM_PREFIX}{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                plain[name] = value
        slots[str(index)] = plain
    tensors[RNG_KEY] = torch.get_rng_state()
    metadata = {
        "progress": json.dumps(progress),
        "optim_groups": json.dumps(optim_state["param_groups"]),
        "optim_plain": json.dumps(slots),
        "format": "labelrobust-checkpoint-1",
    }
    atomic_write_bytes(path, save(tensors, metadata=metadata))


def load_checkpoint(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore model, optimiser and torch RNG from ``path``; return the saved progress dict."""
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != "labelrobust-checkpoint-1":
        raise CheckpointError(f"{path} is not a labelrobust checkpoint (format {metadata.get('format')!r})")
    load_model_tensors(path, tensors, model)
    plain = json.loads(metadata["optim_plain"])
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(OPTIM_PREFIX):
            index, name = key[len(OPTIM_PREFIX) :].split(".", 1)
            state.setdefault(int(index), {})[name] = value
    for index, values in plain.items():
        state.setdefault(int(index), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(metadata["optim_groups"])})
    torch.set_rng_state(tensors[RNG_KEY])
    return json.loads(metadata["progress"])


