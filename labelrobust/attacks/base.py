"""The attack base class: a final ``__call__`` that validates, protects the model, and scores.

Subclasses implement ``run`` — how to search. What counts as success is fixed here and asks
the label space: an untargeted attack succeeds when the adversarial point does not decode to
the true class (an abstention counts as success: the system gave no correct answer); a
targeted attack succeeds when it decodes to the target. The model's train/eval mode and its
parameters' ``requires_grad`` are never changed, and no parameter gradient is left behind
(gradients are taken with ``torch.autograd.grad`` with respect to the input only).
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, final

import torch
from torch import Tensor

from labelrobust.attacks.objectives import OBJECTIVES, Objective
from labelrobust.attacks.threat import ThreatModel
from labelrobust.errors import ConfigError
from labelrobust.labels import ABSTAIN, LabelSpace


@dataclass(frozen=True)
class AttackResult:
    """``x_adv``: the adversarial inputs; ``pred``: their decoded classes (−1 = abstain);
    ``success``: per-sample success (see the module doc); ``steps``: gradient steps spent."""

    x_adv: Tensor
    pred: Tensor
    success: Tensor
    steps: int

    @property
    def abstained(self) -> Tensor:
        return self.pred == ABSTAIN


def check_inputs(x: Tensor, where: str = "inputs") -> None:
    """Attacks work in pixel space: finite values in [0, 1]."""
    if x.numel() == 0:
        return
    if not torch.isfinite(x).all():
        raise ConfigError(f"{where} contain NaN or inf values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise ConfigError(
            f"{where} must lie in [0, 1] (pixel space; normalisation belongs inside the model), got values in [{lo:.4g}, {hi:.4g}]"
        )


def model_device(model: torch.nn.Module, default: torch.device | str = "cpu") -> torch.device:
    """The device of ``model``'s first parameter (or buffer); ``default`` for a model with neither."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device(default)


def check_same_device(model: torch.nn.Module, x: Tensor) -> None:
    """Refuse inputs on another device than the model with one line instead of torch's traceback."""
    device = model_device(model, x.device)
    if device != x.device:
        raise ConfigError(
            f"the model is on {device} but the inputs are on {x.device}; move them with x.to({str(device)!r}) "
            f"(labels follow the inputs)"
        )


class Attack(ABC):
    """Base class; ``threat`` (norm and eps) is required, ``objective`` names what is maximised."""

    name: ClassVar[str]

    def __init__(self, threat: ThreatModel, objective: str = "loss") -> None:
        if not isinstance(threat, ThreatModel):
            raise ConfigError(f"threat must be a ThreatModel (make_threat_model(norm, eps)), got {threat!r}")
        self.threat = threat
        self.objective_name = objective
        self.objective = OBJECTIVES.get(objective)

    @final
    def __call__(self, model: torch.nn.Module, space: LabelSpace, x: Tensor, y: Tensor, target: Tensor | None = None) -> AttackResult:
        check_inputs(x)
        check_same_device(model, x)
        y = space.check_hard_labels(y).to(x.device)
        if len(y) != len(x):
            raise ConfigError(f"got {len(x)} inputs but {len(y)} labels")
        if target is not None:
            target = space.check_hard_labels(torch.as_tensor(target)).to(x.device)
            if target.ndim == 0 or len(target) != len(x):
                raise ConfigError(f"target must hold one class per input ({len(x)}), got shape {tuple(target.shape)}")
            if (target == y).any():
                raise ConfigError(
                    f"target class equals the true class for samples {(target == y).nonzero().flatten()[:5].tolist()}; "
                    "leave those samples out of a targeted attack"
                )
        if len(x) == 0:
            empty = torch.empty(0, dtype=torch.int64, device=x.device)
            return AttackResult(x.detach().clone(), empty, empty.bool(), 0)
        x_adv, steps, pred = self.run(model, space, x.detach(), y, target)
        if pred is None:
            with torch.no_grad():
                pred = space.decode(model(x_adv))
        success = pred != y if target is None else pred == target
        return AttackResult(x_adv.detach(), pred, success, steps)

    @abstractmethod
    def run(
        self, model: torch.nn.Module, space: LabelSpace, x: Tensor, y: Tensor, target: Tensor | None
    ) -> tuple[Tensor, int, Tensor | None]:
        """Search; return adversarial inputs inside the threat model and [0, 1], the steps spent,
        and the decoded classes of those inputs where the search already computed them (saves
        the final forward pass), else None. ``x`` is never empty here."""

    def input_gradient(
        self, model: torch.nn.Module, space: LabelSpace, x_adv: Tensor, y: Tensor, target: Tensor | None, objective: Objective | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Model outputs at ``x_adv``, the per-sample objective there (``objective`` or the
        attack's own), and the gradient of the objective with respect to ``x_adv`` only (no
        parameter gradient is computed or kept)."""
        x_adv = x_adv.detach().requires_grad_(True)
        with torch.enable_grad():
            outputs = model(x_adv)
            value = (objective or self.objective)(space, outputs, y, target)
            (grad,) = torch.autograd.grad(value.sum(), x_adv)
        return outputs.detach(), value.detach(), grad

    def clip(self, x: Tensor, x_adv: Tensor) -> Tensor:
        """Project onto the threat model around ``x``, then onto the image domain [0, 1]."""
        return (x + self.threat.project(x_adv - x)).clamp_(0.0, 1.0)
