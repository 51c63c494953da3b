"""``interval``: one scalar output; class ``y`` owns the interval ``[L(y), U(y)]``.

Interval labels of the task-aware study (Han et al., methods.md §2):

    L(y) = s0 + y·(α + β),   U(y) = L(y) + β,
    decode(o) = ⌊(o − s0)/(α + β)⌋  if that class exists and o ≤ U of it, else ABSTAIN,
    ℓ(o, y) = relu(L(y) − o)² + relu(o − U(y))².

Intervals have width β and are separated by gaps of width α; an output in a gap or outside all
intervals abstains. Example: s0=0, α=1, β=3 puts class 3 at [12, 15]; 13.5 decodes to 3, 15.5
to ABSTAIN. Class scores are ``−dist(o, [L(k), U(k)])`` (``regions.py``), the square root of
the loss evaluated for every class.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from labelrobust.errors import ConfigError
from labelrobust.labels.base import numeric_param
from labelrobust.labels.regions import RegionLabelSpace
from labelrobust.labels.registry import LABEL_SPACES
from labelrobust.validation import number


@LABEL_SPACES.register("interval", "one output; class y owns [L_y, L_y + β] with L_y = s0 + y(α + β); gaps abstain")
class IntervalLabels(RegionLabelSpace):
    """Parameters ``s0`` (default 0), gap ``alpha`` > 0 (default 4), width ``beta`` > 0 (default 16).

    The defaults are the task-aware study's settings. ``alpha`` must be positive so that the
    closed intervals are disjoint and every output has at most one class.
    """

    name = "interval"
    target_kind = "N×2 interval bounds [L(y), U(y)]"

    def __init__(self, num_classes: int, s0: float = 0.0, alpha: float = 4.0, beta: float = 16.0) -> None:
        super().__init__(num_classes)
        s0, alpha, beta = numeric_param(s0), numeric_param(alpha), numeric_param(beta)
        self.s0 = number(s0, "label space 'interval': s0")
        self.alpha = number(alpha, "label space 'interval': the gap alpha", low=0, low_open=True)
        self.beta = number(beta, "label space 'interval': the width beta", low=0, low_open=True)
        lower = self.s0 + torch.arange(num_classes, dtype=torch.float32) * (self.alpha + self.beta)
        self.bounds = torch.stack([lower, lower + self.beta], dim=1)  # K×2: [L(k), U(k)]

    @property
    def out_dim(self) -> int:
        return 1

    @property
    def target_width(self) -> int:
        return 2

    def encode(self, y: Tensor) -> Tensor:
        """Hard labels → their intervals, N×2 rows ``[L(y), U(y)]``, on the labels' device."""
        y = self.targets_from(y)
        return self.constant("bounds", y.device)[y]

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        self.check_outputs(outputs)
        self.check_targets(outputs, targets)
        return self._distance(outputs[:, 0], targets[:, 0], targets[:, 1]).square()

    def valid_targets(self, targets: Tensor) -> Tensor:
        # finite bounds with L ≤ U (NaN fails the comparison as well)
        return (targets[:, 0] <= targets[:, 1]).all() & torch.isfinite(targets).all()

    def explain_invalid_targets(self, targets: Tensor) -> None:
        bad = ~((targets[:, 0] <= targets[:, 1]) & torch.isfinite(targets).all(1))
        rows = bad.nonzero().flatten()
        raise ConfigError(
            f"label space 'interval': loss targets must be finite bounds [L, U] with L ≤ U (what encode(y) "
            f"returns); rows {rows[:5].tolist()} are not, e.g. {targets[rows[0]].tolist()}"
        )

    def region_distance(self, outputs: Tensor) -> Tensor:
        bounds = self.constant("bounds", outputs.device, outputs.dtype)
        return self._distance(outputs, bounds[None, :, 0], bounds[None, :, 1])

    @staticmethod
    def _distance(o: Tensor, lower: Tensor, upper: Tensor) -> Tensor:
        # At most one of the two terms is non-zero, so their sum is the distance to [lower, upper].
        return torch.relu(lower - o) + torch.relu(o - upper)

    def params(self) -> dict[str, Any]:
        return {"s0": self.s0, "alpha": self.alpha, "beta": self.beta}
