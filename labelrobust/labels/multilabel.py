"""``multilabel``: K sigmoid outputs, one independent yes/no decision per class (methods.md §5;
``docs/multilabel.md``).

Targets are multi-hot label sets ``t ∈ {0,1}^K``. The per-sample loss is the binary
cross-entropy of the K logits ``z``, summed over the classes (the negative log-likelihood of
the label set under K independent Bernoullis σ(z_k)):

    ℓ(z, t) = Σ_k  −t_k log σ(z_k) − (1 − t_k) log(1 − σ(z_k))      (F.binary_cross_entropy_with_logits)

The predicted label set is the top-k classes by logit (``k`` = 2, DOUBLE-MNIST's two digits),
or, with ``threshold`` τ, the classes with σ(z_k) > τ. Scores are the logits; ``decode`` is
their arg-max, which is always in a top-k set, so the base contract (arg-max of the scores =
``decode``) holds. With a threshold the set may be empty; ``decode`` then abstains.

``decide(outputs, y)`` — what attacks and the evaluation judge by — is ``y`` when ``y`` is in
the predicted set, else ``decode``: an attack on class ``y`` succeeds exactly when ``y`` leaves
the set (the study's robustness property).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from labelrobust.errors import ConfigError
from labelrobust.labels.base import ABSTAIN, LabelSpace, numeric_param
from labelrobust.labels.registry import LABEL_SPACES
from labelrobust.validation import integer, number

DEFAULT_K = 2


@LABEL_SPACES.register("multilabel", "K sigmoid outputs, summed binary cross-entropy on multi-hot label sets, top-k (or threshold) sets")
class MultiLabel(LabelSpace):
    """K logits, summed BCE to multi-hot label sets; the predicted set is the top-k (default 2)
    classes, or those with sigmoid above ``threshold``."""

    name = "multilabel"
    multi_label = True
    requires_label_sets = True
    accepts_soft_targets = False
    scores_are_outputs = True
    target_kind = "N×K multi-hot label sets of 0/1"

    def __init__(self, num_classes: int, k: int | None = None, threshold: float | None = None) -> None:
        super().__init__(num_classes)
        k, threshold = numeric_param(k), numeric_param(threshold)
        if k is not None and threshold is not None:
            raise ConfigError("label space 'multilabel': give k (top-k sets) or threshold (sigmoid > threshold), not both")
        self.threshold = number(threshold, "label space 'multilabel': threshold", low=0.0, high=1.0, low_open=True, high_open=True, allow_none=True)
        if self.threshold is None:
            self.k = integer(DEFAULT_K if k is None else k, "label space 'multilabel': k", low=1)
            if self.k >= self.num_classes:
                raise ConfigError(f"label space 'multilabel': k must be smaller than the {self.num_classes} classes (a top-{self.k} set would hold every class), got {self.k}")
        else:
            self.k = None
        self.can_abstain = self.threshold is not None  # an empty thresholded set decodes to ABSTAIN

    @property
    def out_dim(self) -> int:
        return self.num_classes

    def encode(self, y: Tensor) -> Tensor:
        """N×K float32 multi-hot targets from N×K label sets (bool or 0/1 numbers), or from hard
        labels N, which become one-hot sets {y} (what an attack on the own loss knows)."""
        if isinstance(y, Tensor) and y.ndim == 2:
            if y.shape[1] != self.num_classes:
                raise ConfigError(f"label space 'multilabel': label sets must have shape (N, {self.num_classes}), got {tuple(y.shape)}")
            sets = y.to(torch.float32)
            if not bool(self.valid_targets(sets)):
                self._refuse(sets, "label sets")
            return sets
        return F.one_hot(self.check_hard_labels(y), self.num_classes).to(torch.float32)

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """Σ_k BCE(z_k, t_k) per sample, shape N."""
        self.check_outputs(outputs)
        self.check_targets(outputs, targets)
        return F.binary_cross_entropy_with_logits(outputs, targets, reduction="none").sum(dim=1)

    def valid_targets(self, targets: Tensor) -> Tensor:
        return ((targets == 0) | (targets == 1)).all()

    def explain_invalid_targets(self, targets: Tensor) -> None:
        self._refuse(targets, "loss targets")

    def _refuse(self, targets: Tensor, what: str) -> None:
        rows = ((targets != 0) & (targets != 1)).any(1).nonzero().flatten()
        raise ConfigError(
            f"label space 'multilabel': {what} must be multi-hot rows of 0/1; rows {rows[:5].tolist()} hold other values, "
            f"e.g. {targets[rows[0]].tolist()}"
        )

    def scores(self, outputs: Tensor) -> Tensor:
        self.check_outputs(outputs)
        return outputs

    def predict_sets(self, outputs: Tensor) -> Tensor:
        """N×K bool, the predicted label sets: the ``k`` largest logits (ties: the lower class
        index), or σ(z_k) > τ ⇔ z_k > log(τ/(1 − τ)) with a threshold."""
        z = self.scores(outputs)
        if self.threshold is not None:
            return z > math.log(self.threshold / (1 - self.threshold))
        top = z.sort(dim=1, descending=True, stable=True).indices[:, : self.k]  # stable: ties go to the lower index, like argmax
        return torch.zeros_like(z, dtype=torch.bool).scatter_(1, top, True)

    def decode(self, outputs: Tensor) -> Tensor:
        """The arg-max class; with a threshold, ABSTAIN where the predicted set is empty."""
        z = self.scores(outputs)
        pred = z.argmax(dim=1)
        if self.threshold is None:
            return pred
        return torch.where(self.predict_sets(z).any(dim=1), pred, torch.full_like(pred, ABSTAIN))

    def decide(self, outputs: Tensor, y: Tensor) -> Tensor:
        """``y`` where ``y`` is in the predicted set, else ``decode`` (never ``y``): ``decide == y``
        ⇔ y ∈ predicted set."""
        kept = self.predict_sets(outputs).gather(1, y[:, None]).squeeze(1)
        return torch.where(kept, y, self.decode(outputs))

    def params(self) -> dict[str, Any]:
        return {"k": self.k, "threshold": self.threshold}
