"""The LabelSpace interface: how a class is represented, scored and decoded.

Every attack, training method, metric and verifier in labelrobust talks to a label space only
through these five members, so any method works with any label space:

- ``out_dim``: the width of the model head the space needs;
- ``encode(y)``: hard labels (int64, shape N) → training targets (soft spaces also accept
  per-sample distributions, N×K);
- ``loss(outputs, targets)``: per-sample losses, shape N (never reduced, so training methods
  can reweight samples);
- ``decode(outputs)``: predicted class per sample, ``ABSTAIN`` (-1) where no class matches;
- ``scores(outputs)``: N×K class scores whose arg-max equals ``decode`` wherever ``decode``
  does not abstain.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from labelrobust.errors import ConfigError

ABSTAIN = -1
"""The class index ``decode`` returns for an output that matches no class."""

SIMPLEX_TOLERANCE = 1e-4
"""How far a soft label's row sum may be from 1 (float32 survey ratios are exact to ~1e-7)."""


class LabelSpace(ABC):
    """Base class of all label spaces; subclasses set ``name`` and implement the abstract methods."""

    name: ClassVar[str]
    accepts_soft_targets: ClassVar[bool] = False
    """Whether ``encode`` takes N×K target distributions as well as hard labels."""
    requires_soft_targets: ClassVar[bool] = False
    """Whether the space is meant for data with per-sample soft labels (training refuses others)."""
    can_abstain: ClassVar[bool] = False
    """Whether ``decode`` may return ``ABSTAIN``."""

    def __init__(self, num_classes: int) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ConfigError(
                f"label space {self.name!r}: num_classes must be an integer ≥ 2, got {num_classes!r}"
            )
        self.num_classes = num_classes

    # -- the interface -------------------------------------------------------------------

    @property
    @abstractmethod
    def out_dim(self) -> int:
        """Number of model outputs this label space reads."""

    @abstractmethod
    def encode(self, y: Tensor) -> Tensor:
        """Training targets for hard labels ``y`` (or soft targets, where accepted)."""

    @abstractmethod
    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """Per-sample training loss, shape N."""

    @abstractmethod
    def scores(self, outputs: Tensor) -> Tensor:
        """N×K class scores; larger means more of that class."""

    def decode(self, outputs: Tensor) -> Tensor:
        """Predicted class per sample (int64, shape N); this default never abstains."""
        return self.scores(outputs).argmax(dim=1)

    def probabilities(self, outputs: Tensor) -> Tensor:
        """Class probabilities ``softmax(scores)``.

        For distribution spaces this is the model's predicted label vector; for code-based
        spaces it is a monotone summary of the scores that methods needing probabilities
        (TRADES, MART, probability margins) use.
        """
        return F.softmax(self.scores(outputs), dim=1)

    def params(self) -> dict[str, Any]:
        """The constructor parameters, as plain JSON-able values (for run directories)."""
        return {}

    # -- shared checks -------------------------------------------------------------------

    def check_outputs(self, outputs: Tensor) -> None:
        """Refuse model outputs of the wrong shape before they produce a silent broadcast."""
        if outputs.ndim != 2 or outputs.shape[1] != self.out_dim:
            raise ConfigError(
                f"label space {self.name!r} reads outputs of shape (N, {self.out_dim}), "
                f"got {tuple(outputs.shape)}; the model head must have out_dim={self.out_dim}"
            )

    def check_hard_labels(self, y: Tensor) -> Tensor:
        """Validate hard labels: integer dtype, one dimension, values in 0..K-1."""
        if not isinstance(y, Tensor):
            y = torch.as_tensor(y)
        if y.dtype.is_floating_point or y.dtype == torch.bool or y.dtype.is_complex:
            raise ConfigError(
                f"label space {self.name!r}: hard labels must be an integer tensor, got {y.dtype}"
            )
        if y.ndim != 1:
            raise ConfigError(
                f"label space {self.name!r}: hard labels must have shape (N,), got {tuple(y.shape)}"
            )
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            bad = y[(y < 0) | (y >= self.num_classes)]
            raise ConfigError(
                f"label space {self.name!r}: labels must lie in 0..{self.num_classes - 1}, "
                f"got {bad[:5].tolist()}"
            )
        return y.to(torch.int64)

    def check_soft_labels(self, q: Tensor) -> Tensor:
        """Validate per-sample distributions: N×K, finite, non-negative, rows summing to 1."""
        if q.ndim != 2 or q.shape[1] != self.num_classes:
            raise ConfigError(
                f"label space {self.name!r}: soft targets must have shape (N, {self.num_classes}), "
                f"got {tuple(q.shape)}"
            )
        q = q.to(torch.float32)
        if not torch.isfinite(q).all():
            rows = (~torch.isfinite(q)).any(1).nonzero().flatten()
            raise ConfigError(
                f"label space {self.name!r}: soft targets contain NaN/inf in rows {rows[:5].tolist()}"
            )
        if (q < 0).any():
            rows = (q < 0).any(1).nonzero().flatten()
            raise ConfigError(
                f"label space {self.name!r}: soft targets must be non-negative; negative entries "
                f"in rows {rows[:5].tolist()}"
            )
        sums = q.sum(1)
        off = (sums - 1).abs() > SIMPLEX_TOLERANCE
        if off.any():
            rows = off.nonzero().flatten()
            raise ConfigError(
                f"label space {self.name!r}: soft targets must sum to 1 per row "
                f"(±{SIMPLEX_TOLERANCE}); rows {rows[:5].tolist()} sum to {sums[rows[:5]].tolist()}"
            )
        return q

    def targets_from(self, y: Tensor) -> Tensor:
        """Hard labels (N,) or, where accepted, soft targets (N×K) → validated targets tensor."""
        if isinstance(y, Tensor) and y.ndim == 2:
            if not self.accepts_soft_targets:
                raise ConfigError(
                    f"label space {self.name!r} takes hard labels of shape (N,), not soft "
                    f"targets of shape {tuple(y.shape)}; use 'soft' or 'smoothing' for distributions"
                )
            return self.check_soft_labels(y)
        return self.check_hard_labels(y)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items() if k != "codebook")
        return f"{type(self).__name__}(num_classes={self.num_classes}{', ' if args else ''}{args})"
