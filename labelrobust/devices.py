"""Device names: checked once, with a one-line error, before anything is allocated.

``cpu``, ``cuda``, ``cuda:N`` and ``mps`` are accepted. A device that this machine lacks is an
error that says so (a config written on a GPU node still *loads* on a laptop: only using the
device checks it), so ``--device cuda`` on a CPU-only machine never ends in a CUDA traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from labelrobust.errors import ConfigError

KINDS = ("cpu", "cuda", "mps")


def check_device_name(name: object, where: str = "device") -> str:
    """``name`` if it is a device torch understands and labelrobust supports, else ConfigError."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where} must be one of cpu, cuda, cuda:N or mps, got {name!r}")
    try:
        dev = torch.device(name.strip())
    except (RuntimeError, ValueError):
        raise ConfigError(f"{where}: unknown device {name!r}; use cpu, cuda, cuda:N or mps") from None
    if dev.type not in KINDS:
        raise ConfigError(f"{where}: device type {dev.type!r} is not supported; use cpu, cuda, cuda:N or mps")
    return name.strip()


def resolve_device(name: object, where: str = "device") -> str:
    """A device that exists on this machine, as a string for ``tensor.to``; ConfigError otherwise."""
    name = check_device_name(name, where)
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{where} {name!r}: CUDA is not available on this machine (no GPU or no CUDA build of torch); use --device cpu")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ConfigError(f"{where} {name!r}: this machine has {count} CUDA device(s), cuda:0..cuda:{count - 1}")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"{where} {name!r}: Apple's MPS backend is not available on this machine; use --device cpu")
    return name


@contextmanager
def one_thread() -> Iterator[None]:
    """Run on one CPU thread, then restore the setting. The networks and batches are tiny: a
    second thread only adds synchronisation, and on a busy 2-core machine it made a run ten
    times slower (85 s instead of 9 s for ``--scale ci``). The results are the same."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
