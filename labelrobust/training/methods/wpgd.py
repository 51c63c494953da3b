"""WPGD (Terzi, Susto, Chaudhari; methods.md §4): adversarial training whose inner attack
maximises the Wasserstein loss ``ℓ_W = C^{⊙p}_y · p(x') − (λ⁻¹/log K)·H(p(x'))`` — pushing
toward classes far from ``y`` under the label metric ``C`` — while the outer loss is the label
space's training loss (cross-entropy for one-hot, as in the paper).

``p`` is the label space's ``probabilities`` (``softmax(scores)``); ``C``, ``p`` and ``λ`` are
validated and computed by the ``wasserstein`` label space, so both use one definition of the loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import ConfigError
from labelrobust.labels import LabelSpace, make_label_space
from labelrobust.training.methods.base import AdversarialMethod, AdversarialParams, BatchLosses
from labelrobust.training.methods.params import param, real
from labelrobust.training.methods.registry import METHODS


@dataclass(frozen=True, kw_only=True)
class WpgdParams(AdversarialParams):
    cost: str | list | None = param(None, "the label metric C: a K×K list, or a .npy/.csv/.txt file (None: 1 − I)")
    power: float = param(1.0, "the power p > 0 of the metric")
    wasserstein_lam: float = param(1.0, "λ > 0 of the entropy term of the Wasserstein loss (inf drops it)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cost is not None and not isinstance(self.cost, (str, Path, list)):
            raise ConfigError(f"cost must be a K×K list or the path of a .npy/.csv/.txt file, got {self.cost!r}")
        self._set("power", real(self.power, "power", low=0, low_open=True))
        self._set("wasserstein_lam", real(self.wasserstein_lam, "wasserstein_lam", low=0, low_open=True, allow_inf=True))


@METHODS.register("wpgd", "WPGD: the loss at the point maximising the Wasserstein loss under a label metric (Terzi et al.)")
class Wpgd(AdversarialMethod):
    """WPGD."""

    name = "wpgd"
    Params = WpgdParams
    inner_objective_doc = "the Wasserstein loss"

    def __init__(self, space: LabelSpace, params: WpgdParams, domain: Box = UNIT_BOX) -> None:
        super().__init__(space, params, domain)
        try:
            self.metric = make_label_space("wasserstein", space.num_classes, cost=params.cost, power=params.power, lam=params.wasserstein_lam)
        except ConfigError as err:  # name the parameters the user wrote, not the space they build
            where = "method 'wpgd' (cost, power, wasserstein_lam): "
            raise ConfigError(str(err).replace("label space 'wasserstein': ", where, 1)) from None

    def wasserstein_objective(self, space, outputs, y, target):
        return self.metric.loss(space.scores(outputs), self.metric.encode(y))

    def losses(self, model, net, x, targets, labels) -> BatchLosses:
        # the one-hot targets are encoded once per batch, not per inner step (wasserstein_objective, per step)
        onehot = self.metric.encode(labels)
        objective = lambda space, outputs, y, target: self.metric.loss(space.scores(outputs), onehot)  # noqa: E731
        x_adv = self.inner_point(net, x, labels, objective)
        outputs = model(x_adv)
        return BatchLosses(self.space.loss(outputs, targets), attacked_outputs=outputs.detach())

    def describe(self) -> dict:
        return {**super().describe(), "metric": self.metric.params()}
