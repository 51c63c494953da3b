"""Where a training run stands: the typed record every checkpoint carries and a resume restores.

It travels as JSON in the checkpoint's metadata (``checkpoint.py``), in the same keys as the
untyped dict of earlier versions, so their checkpoints resume; a key this version does not know
is refused (a newer labelrobust wrote it) instead of being dropped on the next save.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from labelrobust.errors import CheckpointError
from labelrobust.training.diagnostics import EpochTally


@dataclass
class Progress:
    """The state of a run between two batches."""

    epoch: int = 0
    """Epochs finished."""
    batch: int = 0
    """Batches of epoch ``epoch`` (0-based) finished."""
    tally: EpochTally | None = None
    """The sums of those ``batch`` batches (summed over processes), or None at an epoch boundary."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """One ``metrics.jsonl`` record per finished epoch."""
    best_val: dict[str, Any] | None = None
    """``{"epoch": E, "val_acc": A}`` of the best validation accuracy so far (None: no validation yet)."""
    sessions: list[dict[str, Any]] = field(default_factory=list)
    """One entry per call that trained the run: started, command, device, processes."""
    reference_loss: float | None = None
    """The mean loss of the run's first batch, which the divergence check compares against."""
    grad_scaler: dict[str, Any] = field(default_factory=dict)
    """The fp16 loss scaler's state (``{}`` when it is disabled)."""

    def mid_epoch(self, epoch: int, batch: int, tally: EpochTally | None) -> None:
        """Record ``batch`` finished batches of ``epoch`` with their (combined) tally."""
        self.epoch, self.batch = epoch, batch
        self.tally = copy.deepcopy(tally) if batch else None

    def finish_epoch(self, epoch: int) -> None:
        self.epoch, self.batch, self.tally = epoch + 1, 0, None

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["tally"] = self.tally.to_json() if self.tally is not None else {}
        if out["reference_loss"] is None:
            del out["reference_loss"]  # as earlier versions wrote it: absent until the first batch
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "checkpoint") -> Progress:
        if not isinstance(data, dict):
            raise CheckpointError(f"{where}: the progress record must be a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CheckpointError(
                f"{where}: unknown progress keys {', '.join(map(repr, unknown))} (written by a newer labelrobust?); known: {', '.join(sorted(known))}"
            )
        if not isinstance(data.get("epoch"), int) or not isinstance(data.get("batch"), int):
            raise CheckpointError(f"{where}: the progress record needs integer epoch and batch, got {data.get('epoch')!r}, {data.get('batch')!r}")
        values = dict(data)
        values["tally"] = EpochTally.from_json(data["tally"]) if data.get("tally") else None
        return cls(**values)
