"""What a training run tells the user: plain lines, copied to the run's ``train.log``.

Library code only logs (logger ``labelrobust``); the command line shows INFO lines on stderr
(``labelrobust.cli.console``). A run prints its start decision (fresh / resumed / overwritten),
one line per epoch, and on long epochs a heartbeat every ``HEARTBEAT_SECONDS`` when no
progress bar is shown (nohup, SLURM, CI logs). Everything logged while a run trains is also
appended, with timestamps, to ``RUN_DIR/train.log``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labelrobust.training.stopping import TrainingStopped

LOGGER = logging.getLogger("labelrobust")
HEARTBEAT_SECONDS = 60.0
"""Seconds between progress lines inside an epoch when no progress bar is shown."""


@contextmanager
def run_log(path: Path, enabled: bool = True) -> Iterator[None]:
    """Append every ``labelrobust`` log record of INFO and above to ``path`` while the block runs."""
    if not enabled:
        yield
        return
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.setLevel(logging.INFO)
    # An API user who configured no logging still sees warnings (our file handler would
    # otherwise stop Python's last-resort handler from printing them).
    fallback = None
    if not LOGGER.handlers and not logging.getLogger().handlers:
        fallback = logging.StreamHandler(sys.stderr)
        fallback.setLevel(logging.WARNING)
        LOGGER.addHandler(fallback)
    level = LOGGER.level
    if LOGGER.getEffectiveLevel() > logging.INFO:
        LOGGER.setLevel(logging.INFO)
    LOGGER.addHandler(handler)
    try:
        yield
    except (Exception, KeyboardInterrupt) as err:
        # Why the run ended goes into the log too; the caller prints it (once) to the user.
        severity = logging.WARNING if isinstance(err, TrainingStopped) else logging.ERROR
        handler.handle(logging.LogRecord(LOGGER.name, severity, __file__, 0, str(err) or type(err).__name__, None, None))
        raise
    finally:
        LOGGER.removeHandler(handler)
        handler.close()
        if fallback is not None:
            LOGGER.removeHandler(fallback)
        LOGGER.setLevel(level)


def epoch_line(epoch: int, epochs: int, record: dict) -> str:
    """``epoch 3/10: loss 0.412, train acc 91.20%, adv acc 55.00%, val acc 90.10%, lr 0.05, 12.3 s``."""
    parts = [f"loss {record['train_loss']:.4g}"]
    for key, label in (("train_acc", "train acc"), ("adv_train_acc", "adv acc"), ("val_acc", "val acc")):
        if key in record:
            parts.append(f"{label} {100 * record[key]:.2f}%")
    for key, label in (("train_abstain", "abstain"), ("adv_train_abstain", "adv abstain")):
        if record.get(key):
            parts.append(f"{label} {100 * record[key]:.2f}%")
    if "weight_mean" in record:
        parts.append(f"weights {record['weight_min']:.3g}..{record['weight_max']:.3g}")
    parts += [f"lr {record['lr']:.4g}", f"{record['seconds']:.1f} s"]
    return f"epoch {epoch}/{epochs}: " + ", ".join(parts)


class Heartbeat:
    """Says when the next progress line inside an epoch is due."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.last = time.monotonic()

    def due(self) -> bool:
        if not self.enabled or time.monotonic() - self.last < HEARTBEAT_SECONDS:
            return False
        self.last = time.monotonic()
        return True
