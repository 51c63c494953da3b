"""Standard training: the label space's loss on clean inputs."""

from __future__ import annotations

from labelrobust.training.methods.base import BatchLosses, Method
from labelrobust.training.methods.registry import METHODS


@METHODS.register("standard", "the label space's own loss on clean inputs (no parameters)")
class Standard(Method):
    """Standard training: the label space's own loss on the clean batch."""

    name = "standard"

    def losses(self, model, net, x, targets, labels) -> BatchLosses:
        outputs = model(x)
        return BatchLosses(self.space.loss(outputs, targets), clean_outputs=outputs.detach())
