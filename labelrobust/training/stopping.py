"""Stopping a run cleanly: SIGTERM (what schedulers send before preemption) and Ctrl-C.

While a run trains, SIGTERM and the first SIGINT only *request* a stop; the loop notices it at
the next batch boundary, writes a checkpoint there (so ``--resume`` continues with exactly the
batch that was next, and on CPU ends with the weights of an uninterrupted run) and raises
``TrainingStopped``. A second Ctrl-C interrupts at once. Under torchrun every rank receives the
signal and the ranks agree (one all-reduce per batch) to stop at the same batch.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from labelrobust.errors import LabelRobustError


class TrainingStopped(LabelRobustError):
    """Training stopped on request (a signal); the message says where the checkpoint is."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class StopRequest:
    """The name of the signal that asked to stop (``SIGTERM``/``SIGINT``), or None."""

    def __init__(self) -> None:
        self.signal: str | None = None

    @property
    def exit_code(self) -> int:
        """128 + the signal number, the shell's convention (143 for SIGTERM, 130 for SIGINT)."""
        return 128 + int(getattr(signal, self.signal or "SIGINT"))

    def _handle(self, signum: int, frame) -> None:
        if signum == signal.SIGINT and self.signal is not None:
            raise KeyboardInterrupt  # the second Ctrl-C: stop now
        self.signal = signal.Signals(signum).name


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Turn SIGTERM and SIGINT into a StopRequest while the block runs (main thread only;
    elsewhere signals keep their handlers and the request never fires)."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {sig: signal.signal(sig, request._handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
