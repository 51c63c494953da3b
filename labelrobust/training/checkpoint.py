"""Checkpoints as single safetensors files: weights, optimiser state, RNG state and progress.

Nothing is pickled: tensors go into the safetensors payload under prefixed keys, and the rest
(epoch, batch, metric history, optimiser hyper-parameters) into its JSON metadata. The file is
written atomically, so a kill at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from labelrobust.atomic import atomic_write_bytes
from labelrobust.errors import CheckpointError
from labelrobust.models.weights import MODEL_PREFIX, load_model_tensors, read_safetensors

log = logging.getLogger(__name__)

OPTIM_PREFIX = "optim."
RNG_KEY = "rng.torch"
CUDA_RNG_KEY = "rng.cuda"
FORMAT = "labelrobust-checkpoint-1"


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    progress: dict[str, Any],
    rng_states: list[torch.Tensor] | None = None,
    cuda_rng_states: list[torch.Tensor] | None = None,
) -> None:
    """Everything a resumed run needs, in one file, atomically. ``rng_states``: the torch RNG
    state of every process of a distributed run, in rank order (default: this process's);
    ``cuda_rng_states``: the same for each process's CUDA generator (random starts and noise
    drawn on a GPU), when training on one."""
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
    for rank, state in enumerate(rng_states or [torch.get_rng_state()]):
        tensors[RNG_KEY if rank == 0 else f"{RNG_KEY}.{rank}"] = state.cpu()
    for rank, state in enumerate(cuda_rng_states or []):
        tensors[CUDA_RNG_KEY if rank == 0 else f"{CUDA_RNG_KEY}.{rank}"] = state.cpu()
    metadata = {
        "progress": json.dumps(progress),
        "optim_groups": json.dumps(optim_state["param_groups"]),
        "optim_plain": json.dumps(slots),
        "format": FORMAT,
    }
    atomic_write_bytes(path, save(tensors, metadata=metadata))


def read_progress(path: str | Path) -> dict[str, Any]:
    """The progress dict of a checkpoint (epoch, batch, history, ...), without loading tensors."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is unreadable ({err}); expected a labelrobust checkpoint") from err
    if metadata.get("format") != FORMAT or "progress" not in metadata:
        raise CheckpointError(f"{path} is not a labelrobust checkpoint (format {metadata.get('format')!r})")
    return json.loads(metadata["progress"])


def load_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    rank: int = 0,
    world_size: int = 1,
    cuda_device: str | None = None,
) -> dict[str, Any]:
    """Restore model, optimiser and this process's torch RNG from ``path``; return the saved
    progress dict. A distributed run resumed with another number of processes continues, but
    ranks without a saved stream are reseeded (the run is then no longer bit-reproducible)."""
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != FORMAT:
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
    progress = json.loads(metadata["progress"])
    key = RNG_KEY if rank == 0 else f"{RNG_KEY}.{rank}"
    saved_ranks = 1 + sum(k.startswith(RNG_KEY + ".") for k in tensors)
    if saved_ranks != world_size:
        log.warning("%s was written by %d process(es), resumed by %d: random streams of new ranks are reseeded", path, saved_ranks, world_size)
    if key in tensors:
        torch.set_rng_state(tensors[key])
    else:
        torch.manual_seed(hash((progress["epoch"], progress["batch"], rank)) % 2**31)
    cuda_key = CUDA_RNG_KEY if rank == 0 else f"{CUDA_RNG_KEY}.{rank}"
    if cuda_device is not None and cuda_key in tensors:  # a run moved to the CPU has no use for it
        torch.cuda.set_rng_state(tensors[cuda_key], cuda_device)
    return progress


