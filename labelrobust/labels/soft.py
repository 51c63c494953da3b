"""``soft``: per-sample target distributions (human soft labels), KL loss.

The soft model of the soft-label study (Tyrväinen et al.): a soft label is ratings / sum of
ratings, the loss is ``KL(soft label ‖ softmax(z))``. Hard labels are accepted too (as one-hot
targets) so a soft model can be evaluated and attacked like any other.
"""

from __future__ import annotations

from labelrobust.labels.distribution import DistributionLabelSpace
from labelrobust.labels.registry import LABEL_SPACES


@LABEL_SPACES.register("soft", "per-sample soft labels (human ratings): KL to the data's distributions")
class SoftLabels(DistributionLabelSpace):
    """Targets are the data set's per-sample distributions (e.g. softcifar10, cifar10h)."""

    name = "soft"
    accepts_soft_targets = True
    requires_soft_targets = True
