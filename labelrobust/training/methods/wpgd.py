"""WPGD (Terzi, Susto, Chaudhari; methods.md §4): adversarial training whose inner attack
maximises the Wasserstein loss ``ℓ_W = C^{⊙p}_y · p(x') − (λ⁻¹/log K)·H(p(x'))`` — pushing
toward classes far from ``y`` under the label metric ``C`` — while the outer loss is the label
space's training loss (cross-entropy for one-hot, as in the paper).

``p`` is the label space's ``probabilities`` (``softmax(scores)``); ``C``, ``p`` and ``λ`` are
validated and computed by the ``wasserstein`` label space, so both use one definition of the loss.

``wasserstein_solver: sinkhorn`` makes the inner attack maximise the entropic (Sinkhorn) transport
cost ``⟨P_ε, C^{⊙p}⟩`` in place of the closed form (Cuturi 2013; ``labelrobust.labels.sinkhorn``),
with ``sinkhorn_reg`` ε (default ``0.05 · max C^{⊙p}``), ``sinkhorn_iters`` and ``sinkhorn_tol``.
The inner targets are the one-hot labels, and for a one-hot target the entropic plan is the only
coupling there is, so the Sinkhorn objective equals the closed form (value and gradient, to
rounding) at the price of two iterations per step; the option is there so that the inner loss is
computed by the same solver as a ``wasserstein`` space with ``solver: sinkhorn``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import ConfigError
from labelrobust.label_metrics import LabelMetric, is_metric_name, resolve_metric
from labelrobust.labels import LabelSpace, make_label_space
from labelrobust.training.methods.base import AdversarialMethod, AdversarialParams, BatchLosses
from labelrobust.training.methods.params import param, real
from labelrobust.training.methods.registry import METHODS
from labelrobust.validation import integer, one_of


@dataclass(frozen=True, kw_only=True)
class WpgdParams(AdversarialParams):
    cost: str | list | None = param(
        None,
        "the label metric C: wordnet[:SIMILARITY], linear-boundary, visual:[KIND:]RUN_DIR, a .csv (header of class names)/.npy/.txt file, or a K×K list (None: 1 − I)",
    )
    power: float = param(1.0, "the power p > 0 of the metric")
    wasserstein_lam: float = param(1.0, "λ > 0 of the entropy term of the Wasserstein loss (inf drops it)")
    wasserstein_solver: str = param("closed", "the transport term of the inner loss: closed (C^p_y·p) or sinkhorn (entropic OT)")
    sinkhorn_reg: float | None = param(None, "sinkhorn only: ε > 0 of the entropic plan, in units of C^p (None: 0.05·max C^p)")
    sinkhorn_iters: int | None = param(None, "sinkhorn only: the most Sinkhorn iterations per loss, ≥ 1 (None: 1000)")
    sinkhorn_tol: float | None = param(None, "sinkhorn only: stop once the marginals' L1 error is ≤ this, ≥ 0 (None: 1e-5)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cost is not None and not isinstance(self.cost, (str, Path, list, LabelMetric)):
            raise ConfigError(f"cost must be a label metric name (wordnet, linear-boundary, visual:RUN_DIR), a .csv/.npy/.txt file, a K×K list or a LabelMetric, got {self.cost!r}")
        self._set("power", real(self.power, "power", low=0, low_open=True))
        self._set("wasserstein_lam", real(self.wasserstein_lam, "wasserstein_lam", low=0, low_open=True, allow_inf=True))
        one_of(self.wasserstein_solver, ("closed", "sinkhorn"), "wasserstein_solver")
        self._set("sinkhorn_reg", real(self.sinkhorn_reg, "sinkhorn_reg", low=0, low_open=True, allow_none=True))
        integer(self.sinkhorn_iters, "sinkhorn_iters", low=1, allow_none=True)
        self._set("sinkhorn_tol", real(self.sinkhorn_tol, "sinkhorn_tol", low=0, allow_none=True))
        given = [k for k in ("sinkhorn_reg", "sinkhorn_iters", "sinkhorn_tol") if getattr(self, k) is not None]
        if self.wasserstein_solver == "closed" and given:
            raise ConfigError(f"{', '.join(given)} applies to wasserstein_solver 'sinkhorn' only; set wasserstein_solver: sinkhorn or leave it out")

    def sinkhorn_settings(self) -> dict:
        """The ``wasserstein`` space's solver parameters these settings ask for."""
        if self.wasserstein_solver == "closed":
            return {}
        return {"solver": "sinkhorn", "reg": self.sinkhorn_reg, "sinkhorn_iters": self.sinkhorn_iters, "sinkhorn_tol": self.sinkhorn_tol}


@METHODS.register("wpgd", "WPGD: the loss at the point maximising the Wasserstein loss under a label metric (Terzi et al.)")
class Wpgd(AdversarialMethod):
    """WPGD."""

    name = "wpgd"
    Params = WpgdParams
    inner_objective_doc = "the Wasserstein loss"

    def __init__(self, space: LabelSpace, params: WpgdParams, domain: Box = UNIT_BOX) -> None:
        super().__init__(space, params, domain)
        # a name or a file is resolved against the dataset's classes in bind_data (make_method calls it)
        self.metric = None if isinstance(params.cost, (str, Path)) else self._metric_space(params.cost)

    def bind_data(self, dataset) -> None:
        """Resolve a cost given as text against the dataset: a name (``wordnet``, ``visual:RUN``,
        ...) is computed for its classes, a CSV with a header is reordered to them. Without a
        dataset a name is refused and a file must be headerless, in class order."""
        cost = self.params.cost
        if not isinstance(cost, (str, Path)):
            return
        if dataset is not None:
            cost = resolve_metric(cost, dataset.class_names, dataset=dataset, who="method 'wpgd': cost")
        elif is_metric_name(cost):
            raise ConfigError(f"method 'wpgd': cost {cost!r} is computed for a dataset's classes; make the method with make_method(..., dataset=...) or give a metric file")
        self.metric = self._metric_space(cost)

    def _metric_space(self, cost) -> LabelSpace:
        try:
            return make_label_space(
                "wasserstein",
                self.space.num_classes,
                cost=cost,
                power=self.params.power,
                lam=self.params.wasserstein_lam,
                **self.params.sinkhorn_settings(),
            )
        except ConfigError as err:  # name the parameters the user wrote, not the space they build
            where = "method 'wpgd' (cost, power, wasserstein_lam): "
            raise ConfigError(str(err).replace("label space 'wasserstein': ", where, 1)) from None

    def _require_metric(self) -> LabelSpace:
        if self.metric is None:
            raise ConfigError(
                f"method 'wpgd': cost {self.params.cost!r} is computed for a dataset's classes; "
                f"make the method with make_method(..., dataset=...) or give a metric file"
            )
        return self.metric

    def wasserstein_objective(self, space, outputs, y, target):
        metric = self._require_metric()
        return metric.loss(space.scores(outputs), metric.encode(y))

    def losses(self, model, net, x, targets, labels) -> BatchLosses:
        metric = self._require_metric()
        # the one-hot targets are encoded once per batch, not per inner step (wasserstein_objective, per step)
        onehot = metric.encode(labels)
        objective = lambda space, outputs, y, target: metric.loss(space.scores(outputs), onehot)  # noqa: E731
        x_adv = self.inner_point(net, x, labels, objective)
        outputs = model(x_adv)
        return BatchLosses(self.space.loss(outputs, targets), attacked_outputs=outputs.detach())

    def describe(self) -> dict:
        return {**super().describe(), "metric": None if self.metric is None else self.metric.params()}
