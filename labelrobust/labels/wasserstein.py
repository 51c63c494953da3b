"""``wasserstein``: cost-sensitive targets under a label metric (Terzi, Susto, Chaudhari; WPGD).

With a symmetric, non-negative label metric ``C`` (K×K, zero diagonal) and power ``p``, the
p-Wasserstein distance from the softmax output ``ŷ`` to a one-hot target has a closed form,
``W_p^p(ŷ, onehot(y)) = C^{⊙p}_y · ŷ`` (all mass must move to ``y``). The loss of methods.md §4:

    ℓ_W(z, y) = C^{⊙p}_y · softmax(z) − (1 / (λ · log K)) · H(softmax(z)),

with H the Shannon entropy (natural log), so the entropic term lies in [0, 1/λ]. Scores are the
logits and decode is their arg-max, as for cross-entropy models.

Two solvers for the transport term (parameter ``solver``):

- ``closed`` (default): the closed form above; targets must be one-hot rows (hard labels), for a
  soft target it no longer holds.
- ``sinkhorn``: the entropic transport cost ``⟨P_ε, C^{⊙p}⟩`` between ``softmax(z)`` and the target
  distribution ``t`` (Cuturi 2013; Peyré & Cuturi 2019, §4; ``labelrobust.labels.sinkhorn``), so
  targets may be any N×K distributions (soft labels), checked as the ``soft`` space checks them:

      ℓ_W^ε(z, t) = ⟨P_ε(softmax(z), t), C^{⊙p}⟩ − (1 / (λ · log K)) · H(softmax(z)).

  ``reg`` is ε in the units of ``C^{⊙p}`` (default ``0.05 · max C^{⊙p}``); ``sinkhorn_iters``
  (default 1000) and ``sinkhorn_tol`` (default 1e-5, on the L1 error of the marginals) bound the
  iterations. For a one-hot ``t`` the only coupling is ``P = softmax(z)·e_yᵀ``, so the Sinkhorn
  term equals the closed form for every ε (after two iterations), loss and gradient alike.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from labelrobust.errors import ConfigError
from labelrobust.label_metrics import is_metric_name
from labelrobust.label_metrics.io import read_matrix_file
from labelrobust.label_metrics.metric import LabelMetric, validate_matrix
from labelrobust.labels.base import LabelSpace, numeric_param, on_simplex
from labelrobust.labels.sinkhorn import DEFAULT_ITERS, DEFAULT_TOL, default_reg, log_sinkhorn, safe_log
from labelrobust.labels.registry import LABEL_SPACES
from labelrobust.validation import integer, number, one_of


COST_WHO = "label space 'wasserstein': cost matrix"
SOLVERS = ("closed", "sinkhorn")
SINKHORN_PARAMS = ("reg", "sinkhorn_iters", "sinkhorn_tol")


def load_cost_matrix(cost: Any, num_classes: int) -> Tensor:
    """Read and validate a label metric: a ``LabelMetric``, an array-like, or a path to a
    ``.npy``/``.csv``/``.txt`` file (``labelrobust.label_metrics.io``; a CSV may carry a header
    row of class names, which the caller matches to the dataset through ``resolve_metric``).

    The matrix must be square K×K, finite, non-negative, symmetric and zero on the diagonal;
    the error names the first condition that fails (and the file and line it came from).
    """
    if isinstance(cost, LabelMetric):
        c = cost.matrix
    elif isinstance(cost, (str, Path)):
        c = _headerless_file(cost)
    else:
        c = validate_matrix(cost, COST_WHO)
    if c.shape[0] != num_classes:
        raise ConfigError(f"{COST_WHO} must be {num_classes}×{num_classes} (one row per class), got {c.shape[0]}×{c.shape[1]}")
    return torch.as_tensor(c, dtype=torch.float32)


def _headerless_file(cost: str | Path):
    """A metric file read without knowing the dataset's classes: a name or a header of class
    names needs them (``resolve_metric``, which a run's config goes through), so both are refused."""
    if is_metric_name(cost):
        raise ConfigError(
            f"{COST_WHO} {cost!r} is computed for a dataset's classes; give it in a run config (labelrobust train), "
            f"or pass resolve_metric({cost!r}, class_names) as the cost"
        )
    path = Path(cost)
    where = f"{COST_WHO} {path}"
    names, rows = read_matrix_file(path, where)
    if names is not None:
        raise ConfigError(
            f"{COST_WHO} {path} has a header row of class names, which must be matched to the dataset's classes; "
            f"give it in a run config (labelrobust train), or pass resolve_metric(path, class_names) as the cost"
        )
    return validate_matrix(rows, where)


@LABEL_SPACES.register("wasserstein", "cost-sensitive: C^p_y·softmax(z) − H/(λ log K) under a label metric C (closed form or Sinkhorn)")
class WassersteinTargets(LabelSpace):
    """Parameters: ``cost`` C (default the 0-1 metric ``1 − I``), ``power`` p > 0 (default 1),
    ``lam`` λ > 0 (default 1.0; ``.inf`` in YAML drops the entropic term), ``solver``
    (``closed``, the default, or ``sinkhorn``), and for ``sinkhorn`` only: ``reg`` ε > 0 (default
    ``0.05 · max C^{⊙p}``), ``sinkhorn_iters`` ≥ 1 (default 1000), ``sinkhorn_tol`` ≥ 0 (default 1e-5).

    With ``solver="sinkhorn"`` the space takes N×K target distributions as well as hard labels:
    ``accepts_soft_targets`` and ``target_kind`` are set on the instance, which is where the base
    class reads them (``targets_from``, ``check_targets``); the class-level values describe the
    default solver.
    """

    scores_are_outputs = True
    metric_params = ("cost",)

    name = "wasserstein"
    target_kind = "N×K one-hot rows"

    def __init__(
        self,
        num_classes: int,
        cost: Any = None,
        power: float = 1.0,
        lam: float = 1.0,
        solver: str = "closed",
        reg: float | None = None,
        sinkhorn_iters: int | None = None,
        sinkhorn_tol: float | None = None,
    ) -> None:
        super().__init__(num_classes)
        power, lam = numeric_param(power), numeric_param(lam)
        power = number(power, "label space 'wasserstein': power p", low=0, low_open=True)
        lam = number(lam, "label space 'wasserstein': lam (λ)", low=0, low_open=True, allow_inf=True)
        self.solver = one_of(solver, SOLVERS, "label space 'wasserstein': solver")
        reg, sinkhorn_iters, sinkhorn_tol = (numeric_param(v) for v in (reg, sinkhorn_iters, sinkhorn_tol))
        if self.solver == "closed":
            given = [f"{k}={v!r}" for k, v in zip(SINKHORN_PARAMS, (reg, sinkhorn_iters, sinkhorn_tol)) if v is not None]
            if given:
                raise ConfigError(
                    f"label space 'wasserstein': {', '.join(given)} applies to solver 'sinkhorn' only; "
                    f"set solver=sinkhorn or leave {', '.join(SINKHORN_PARAMS)} out"
                )
        if cost is None:
            self.cost = 1.0 - torch.eye(num_classes)
        else:
            self.cost = load_cost_matrix(cost, num_classes)
        self._cost_param = _cost_description(cost, self.cost)
        self.power = float(power)
        self.lam = float(lam)
        self.cost_power = self.cost.pow(self.power)
        self.reg = self.sinkhorn_iters = self.sinkhorn_tol = None
        if self.solver == "sinkhorn":
            reg = default_reg(self.cost_power) if reg is None else reg
            self.reg = number(reg, "label space 'wasserstein': reg (the Sinkhorn ε, in units of C^p)", low=0, low_open=True)
            iters = DEFAULT_ITERS if sinkhorn_iters is None else sinkhorn_iters
            self.sinkhorn_iters = integer(iters, "label space 'wasserstein': sinkhorn_iters", low=1)
            tol = DEFAULT_TOL if sinkhorn_tol is None else sinkhorn_tol
            self.sinkhorn_tol = number(tol, "label space 'wasserstein': sinkhorn_tol", low=0)
            self.accepts_soft_targets = True  # instance-level: the base class reads self.accepts_soft_targets
            # for one-hot targets Sinkhorn equals the closed form: this solver is for soft labels, so
            # training feeds it the dataset's soft labels and refuses a dataset without them
            self.requires_soft_targets = True
            self.target_kind = "N×K distributions"

    @property
    def out_dim(self) -> int:
        return self.num_classes

    def encode(self, y: Tensor) -> Tensor:
        """Hard labels → one-hot targets (N×K); with solver ``sinkhorn`` also N×K distributions → themselves."""
        if self.solver == "closed" and isinstance(y, Tensor) and y.ndim == 2:
            raise ConfigError(
                f"label space 'wasserstein' (solver 'closed') takes hard labels of shape (N,), not soft targets of "
                f"shape {tuple(y.shape)}; the closed form holds for one-hot targets only — use solver=sinkhorn for distributions"
            )
        targets = self.targets_from(y)
        if targets.ndim == 1:
            targets = F.one_hot(targets, self.num_classes).to(torch.float32)
        return targets

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        self.check_outputs(outputs)
        self.check_targets(outputs, targets)
        log_probs = self.log_probabilities(outputs)
        probs = log_probs.exp()
        # C^p follows the outputs' dtype and device, and so do the targets (encode gives float32;
        # a float64 or half-precision model's outputs would not multiply with them)
        cost = self.constant("cost_power", outputs.device, outputs.dtype)
        targets = targets.to(outputs.dtype)
        if self.solver == "sinkhorn":
            log_targets = safe_log(targets / targets.sum(dim=1, keepdim=True))  # rows sum to 1 to 1e-4; make it exact
            transport = log_sinkhorn(log_probs, log_targets, cost, self.reg, iters=self.sinkhorn_iters, tol=self.sinkhorn_tol).cost
        else:
            transport = ((targets @ cost) * probs).sum(dim=1)
        if math.isinf(self.lam):
            return transport
        entropy = -(probs * log_probs).sum(dim=1)
        return transport - entropy / (self.lam * math.log(self.num_classes))

    def valid_targets(self, targets: Tensor) -> Tensor:
        if self.solver == "sinkhorn":
            return on_simplex(targets)
        # one-hot: every entry 0 or 1, one 1 per row (the closed form holds for these only)
        return ((targets == 0) | (targets == 1)).all() & (targets.sum(dim=1) == 1).all()

    def explain_invalid_targets(self, targets: Tensor) -> None:
        if self.solver == "sinkhorn":
            self.check_soft_labels(targets, "loss targets")  # names the rows and the condition that failed
            return
        bad = ~(((targets == 0) | (targets == 1)).all(1) & (targets.sum(dim=1) == 1))
        rows = bad.nonzero().flatten()
        raise ConfigError(
            f"label space 'wasserstein': loss targets must be one-hot rows (encode(y) of hard labels; the "
            f"closed form C^p_y·p holds for one-hot targets only, solver=sinkhorn takes distributions); rows "
            f"{rows[:5].tolist()} are not, e.g. {targets[rows[0]].tolist()}"
        )

    def scores(self, outputs: Tensor) -> Tensor:
        self.check_outputs(outputs)
        return outputs

    def params(self) -> dict[str, Any]:
        return {
            "cost": self._cost_param,
            "power": self.power,
            "lam": self.lam,
            "solver": self.solver,
            "reg": self.reg,
            "sinkhorn_iters": self.sinkhorn_iters,
            "sinkhorn_tol": self.sinkhorn_tol,
        }


def _cost_description(cost: Any, matrix: Tensor) -> Any:
    """What a run summary records of the cost: the spec a user wrote (None, a path), or for a
    resolved metric its source and fingerprint, or the matrix itself."""
    if cost is None or isinstance(cost, str):
        return cost
    if isinstance(cost, Path):
        return str(cost)
    if isinstance(cost, LabelMetric):
        return {"source": cost.source, "sha256": cost.fingerprint(), "classes": list(cost.class_names)}
    return matrix.tolist()
