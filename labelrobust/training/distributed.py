"""Training under PyTorch's own distributed engine (``torchrun``), one process per device.

``torchrun --nproc_per_node N -m labelrobust train CONFIG`` starts N processes; torchrun sets
``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``, and each process joins the group here (backend
``nccl`` on CUDA, ``gloo`` on CPU). The model is wrapped in DistributedDataParallel. Every
global mini-batch of ``batch_size`` samples (the same seeded permutation on every rank) is split
into N contiguous shards, and each rank's per-sample loss sum is divided by the global batch
size times 1/N, so DDP's gradient average equals one process's mean over the whole batch:
N processes follow the loss curve of one (up to floating-point reduction order, and the random
starts of the inner attacks, which each rank draws from its own stream). Rank 0 writes every
file; the others wait at a barrier. When the command is done, the command line destroys the
group and ends each worker with ``exit_process`` (see there for why).

Multi-node: run torchrun on every node with ``--nnodes``, ``--node_rank`` and a shared
``--rdzv_endpoint``; on GPUs set ``device: cuda`` (each process takes ``cuda:LOCAL_RANK``).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import NoReturn

import torch
import torch.distributed as dist
from torch import Tensor

from labelrobust.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Distributed:
    """Where this process stands: ``rank`` of ``world_size`` (1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: str) -> str:
        """``cuda`` becomes this process's ``cuda:LOCAL_RANK``; other devices are kept."""
        return f"cuda:{self.local_rank}" if self.enabled and device == "cuda" else device

    def shard(self, idx: Tensor) -> Tensor:
        """This rank's contiguous share of a global batch of indices."""
        return idx.tensor_split(self.world_size)[self.rank] if self.enabled else idx

    @property
    def _wire(self) -> str:
        """Where collectives read their tensors: NCCL (CUDA) takes CUDA tensors only, gloo CPU ones."""
        return f"cuda:{self.local_rank}" if dist.get_backend() == "nccl" else "cpu"

    def sum(self, values: Tensor) -> Tensor:
        """Sum a tensor over all processes (the identity when not distributed), on its own device."""
        if not self.enabled:
            return values
        wired = values.to(self._wire, copy=True)
        dist.all_reduce(wired)
        return wired.to(values.device)

    def gather(self, value: Tensor) -> list[Tensor]:
        """Every rank's copy of a same-shaped tensor (rank order), on ``value``'s device — so CPU
        tensors (RNG states, tallies) can be exchanged over NCCL too."""
        if not self.enabled:
            return [value]
        wired = value.to(self._wire)
        out = [torch.empty_like(wired) for _ in range(self.world_size)]
        dist.all_gather(out, wired)
        return [o.to(value.device) for o in out]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def from_environment(device: str) -> Distributed:
    """Join the process group torchrun describes, or return the single-process context."""
    if not launched_by_torchrun():
        return Distributed()
    world = int(os.environ["WORLD_SIZE"])
    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed; run without torchrun")
    if "RANK" not in os.environ:
        raise ConfigError(f"WORLD_SIZE={world} is set but RANK is not; start the processes with torchrun, which sets both")
    ctx = Distributed(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(ctx.local_rank)
        dist.init_process_group(backend=backend)
        log.debug("rank %d of %d joined the %s process group", ctx.rank, world, backend)
    return ctx


def launched_by_torchrun() -> bool:
    """Whether this process is one of several that torchrun started."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def leave() -> None:
    """Destroy the process group this process joined, if any (every rank, after its last collective)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def exit_process(code: int) -> NoReturn:
    """End a torchrun worker at once with ``code``, skipping the interpreter's and the C++
    runtime's teardown.

    Why: DistributedDataParallel's reducer keeps its gloo process group, and the group's worker
    threads (``gloo_tcp_loop``, ``pt_gloo_runloop``), alive for the rest of the process; with
    torch 2.14 they survive ``del ddp``, ``gc.collect()`` and ``destroy_process_group()``. A
    normal exit then runs the C++ static destructors while those threads still run; in this
    project's runs about one exit in sixty aborted with "terminate called without an active
    exception" (SIGABRT), which torchrun reports as a failed run although every file was
    written. Those files are closed by now (atomic writes), so only the standard streams and
    logging need flushing.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)
