"""``smoothing``: label smoothing regularisation (LSR).

Target ``ŷ = (1 − ε)·y + ε/K`` (Szegedy et al. 2016; the LSR model of the soft-label study,
Tyrväinen et al.), trained with the KL loss of ``distribution.py``. Soft targets are smoothed
the same way.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from labelrobust.labels.base import numeric_param
from labelrobust.labels.distribution import DistributionLabelSpace
from labelrobust.labels.registry import LABEL_SPACES
from labelrobust.validation import number


@LABEL_SPACES.register("smoothing", "label smoothing: KL to (1 − ε)·y + ε/K (param eps, default 0.1)")
class LabelSmoothing(DistributionLabelSpace):
    """LSR with smoothing weight ``eps`` in [0, 1) (default 0.1, the usual choice)."""

    name = "smoothing"
    accepts_soft_targets = True

    def __init__(self, num_classes: int, eps: float = 0.1) -> None:
        super().__init__(num_classes)
        eps = numeric_param(eps)
        self.eps = number(eps, "label space 'smoothing': eps", low=0, high=1, high_open=True)

    def transform_distribution(self, q: Tensor) -> Tensor:
        return (1.0 - self.eps) * q + self.eps / self.num_classes

    def params(self) -> dict[str, Any]:
        return {"eps": self.eps}
