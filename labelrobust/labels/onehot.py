"""``onehot``: hard labels, cross-entropy (the standard classifier)."""

from __future__ import annotations

from labelrobust.labels.distribution import DistributionLabelSpace
from labelrobust.labels.registry import LABEL_SPACES


@LABEL_SPACES.register("onehot", "one-hot targets, cross-entropy, arg-max")
class OneHot(DistributionLabelSpace):
    """Targets are one-hot vectors; the KL loss to a one-hot target is the cross-entropy."""

    name = "onehot"
