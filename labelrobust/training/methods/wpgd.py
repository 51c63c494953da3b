"""WPGD (Terzi, Susto, Chaudhari; methods.md §4): adversarial training whose inner PGD
maximises the Wasserstein loss ``ℓ_W = C^{⊙p}_y · p(x') − (λ⁻¹/log K)·H(p(x'))`` — pushing
toward classes far from ``y`` under the label metric ``C`` — while the outer loss is the label
space's training loss (cross-entropy for one-hot, as in the paper).

``p`` is ``softmax(scores)`` of the label space; ``C``, ``p`` and ``λ`` are validated and
computed by the ``wasserstein`` label space, so both use one definition of the loss.
"""

from __future__ import annotations

from labelrobust.errors import ConfigError
from labelrobust.labels import make_label_space
from labelrobust.training.methods.base import BatchLosses, Method
from labelrobust.training.methods.registry import METHODS


@METHODS.register("wpgd", "WPGD: the loss at the point maximising the Wasserstein loss under a label metric (Terzi et al.)")
class Wpgd(Method):
    name = "wpgd"
    inner_objective_doc = "the Wasserstein loss"

    def __init__(self, cfg, space) -> None:
        super().__init__(cfg, space)
        try:
            self.metric = make_label_space("wasserstein", space.num_classes, cost=cfg.cost, power=cfg.power, lam=cfg.wasserstein_lam)
        except ConfigError as err:  # name the settings the user wrote, not the space they build
            where = "method 'wpgd' (method.cost, method.power, method.wasserstein_lam): "
            raise ConfigError(str(err).replace("label space 'wasserstein': ", where, 1)) from None

    def wasserstein_objective(self, space, outputs, y, target):
        return self.metric.loss(space.scores(outputs), self.metric.encode(y))

    def losses(self, model, net, x, targets, labels) -> BatchLosses:
        # the one-hot targets are encoded once per batch, not per PGD step (wasserstein_objective, per step)
        onehot = self.metric.encode(labels)
        objective = lambda space, outputs, y, target: self.metric.loss(space.scores(outputs), onehot)  # noqa: E731
        x_adv = self.inner_point(net, x, labels, objective)
        outputs = model(x_adv)
        return BatchLosses(self.space.loss(outputs, targets), attacked_outputs=outputs.detach())

    def describe(self) -> dict:
        return {**super().describe(), **self.metric.params()}
