"""The attack base classes: a final ``__call__`` that validates, protects the model, counts the
cost, and judges success; attacks that describe themselves.

Subclasses implement ``run`` — how to search. What counts as success is fixed here and asks
the label space, through ``space.decide(outputs, y)`` (``decode`` for single-label spaces): an
untargeted attack succeeds when the decision at the adversarial point is not the attacked
class (an abstention counts as success: the system gave no correct answer; for a multi-label
space, success means the class left the predicted set); a targeted attack succeeds when the
decision is the target. The model's train/eval mode and its
parameters' ``requires_grad`` are never changed, and no parameter gradient is left behind
(gradients are taken with ``torch.autograd.grad`` with respect to the input only).

Two families, kept apart so that no attack receives an objective it ignores:

- ``GradientAttack``: maximises an ``objective`` chosen by the caller (``objectives.py``: the
  label space's own loss, or margin / DLR / CE on its class scores). Every gradient attack is
  also an *inner maximiser* (``maximize``) that training methods call with their own objective.
- ``PublishedAttack``: runs a published package (AutoAttack, APGD, Square) that brings its own
  losses on the class scores; it takes no ``objective`` parameter at all.

Every attack describes itself (``describe()``: kind, objective, budget) and every result
carries its ``Cost``, counted the same way for all attacks by a hook on the model: forward
passes and input-gradient passes, per sample.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import ClassVar, final

import torch
from torch import Tensor

from labelrobust.attacks.objectives import OBJECTIVES, Objective
from labelrobust.attacks.threat import ThreatModel
from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import ConfigError
from labelrobust.labels import ABSTAIN, LabelSpace
from labelrobust.validation import number

WHITE_BOX, BLACK_BOX, TRANSFER, ENSEMBLE = "white-box", "black-box", "transfer", "ensemble"
"""Attack kinds: gradients of the victim; forward passes of the victim only; gradients of
another model; several of these in sequence (AutoAttack)."""


@dataclass(frozen=True)
class Cost:
    """Work spent by an attack, per sample: ``forwards`` counts every sample pushed through the
    victim model (a batch of 100 is 100), ``gradients`` those of them whose pass also computed
    an input gradient. ``source_*`` count the same on a transfer attack's source model."""

    forwards: int = 0
    gradients: int = 0
    source_forwards: int = 0
    source_gradients: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(*(a + b for a, b in zip(asdict(self).values(), asdict(other).values())))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class AttackDescription:
    """What an attack is, read by the evaluation instead of guessing from its name.

    ``objective``: what is actually maximised (``loss`` = the label space's own training loss;
    ``margin``/``dlr``/``ce`` on the class scores; a published attack names its own losses).
    ``adaptive``: whether that objective acts on the class scores rather than the own loss.
    ``budget``: the attack's own knobs (steps, restarts, queries, ...), every default resolved.
    """

    name: str
    kind: str
    objective: str
    adaptive: bool
    norm: str
    eps: float
    budget: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AttackResult:
    """``x_adv``: the adversarial inputs; ``pred``: their decisions (``space.decide``: the decoded classes of a single-label space; −1 = abstain);
    ``success``: per-sample success (see the module doc); ``cost``: the work spent."""

    x_adv: Tensor
    pred: Tensor
    success: Tensor
    cost: Cost

    @property
    def abstained(self) -> Tensor:
        return self.pred == ABSTAIN


def check_inputs(x: Tensor, where: str = "inputs", domain: Box = UNIT_BOX) -> None:
    """Attacks work on the raw inputs of the model: finite values inside the input domain."""
    domain.check(x, where)


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


def step_size_value(value: object, who: str, eps: float) -> float:
    """A step size as a number or a fraction (``2/255``), finite and > 0 (0 allowed at eps 0)."""
    from labelrobust.attacks.threat import parse_eps

    try:
        step = parse_eps(value) if isinstance(value, str) else value
    except ConfigError:
        raise ConfigError(f"{who}: step_size must be a number or a fraction like 2/255, got {value!r}") from None
    return number(step, f"{who}: step_size", low=0.0, low_open=eps > 0)


class PassCounter:
    """Counts the samples pushed through ``model`` while active (a forward pre-hook), and those
    whose pass builds a graph back to the input (grad mode on and the input requiring grad)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.forwards = self.gradients = 0
        self._handle = model.register_forward_pre_hook(self._count)

    def _count(self, module: torch.nn.Module, args: tuple) -> None:
        x = args[0] if args else None
        n = len(x) if isinstance(x, Tensor) and x.ndim > 0 else 1
        self.forwards += n
        if torch.is_grad_enabled() and isinstance(x, Tensor) and x.requires_grad:
            self.gradients += n

    def close(self) -> Cost:
        self._handle.remove()
        return Cost(self.forwards, self.gradients)


@dataclass(frozen=True)
class Search:
    """What ``run`` returns: adversarial inputs inside the threat model and the domain, their
    decoded classes where the search already computed them (saves the final forward pass;
    None: the base class decodes), and work done outside the victim model (transfer)."""

    x_adv: Tensor
    pred: Tensor | None = None
    extra_cost: Cost = Cost()


class Attack(ABC):
    """Base class; ``threat`` (norm and eps) is required. Subclasses set ``name`` and ``kind``
    and implement ``run``, ``objective_name`` and ``budget``."""

    name: ClassVar[str]
    kind: ClassVar[str] = WHITE_BOX

    def __init__(self, threat: ThreatModel) -> None:
        if not isinstance(threat, ThreatModel):
            raise ConfigError(f"threat must be a ThreatModel (make_threat_model(norm, eps)), got {threat!r}")
        self.threat = threat

    @property
    @abstractmethod
    def objective_name(self) -> str:
        """What this attack maximises, as ``describe`` reports it."""

    @property
    def adaptive(self) -> bool:
        """Whether the objective acts on the class scores (not the label space's own loss)."""
        return self.objective_name != "loss"

    @abstractmethod
    def budget(self) -> dict:
        """The attack's budget knobs with every default resolved (steps, restarts, queries)."""

    def unsupported(self, input_shape: tuple[int, ...], num_classes: int) -> str | None:
        """Why this attack cannot run on inputs of ``input_shape`` with ``num_classes`` classes
        (None: it can), so an evaluation can refuse or skip it before any attack runs."""
        return None

    def describe(self) -> AttackDescription:
        return AttackDescription(self.name, self.kind, self.objective_name, self.adaptive, self.threat.norm, self.threat.eps, self.budget())

    @final
    def __call__(
        self, model: torch.nn.Module, space: LabelSpace, x: Tensor, y: Tensor, target: Tensor | None = None, *, domain: Box = UNIT_BOX
    ) -> AttackResult:
        """Attack ``x`` (labels ``y``, the class each sample should keep; optional per-sample
        ``target`` classes) inside the threat model and ``domain``."""
        if not isinstance(domain, Box):
            raise ConfigError(f"domain must be a labelrobust.domain.Box, got {domain!r}")
        check_inputs(x, domain=domain)
        check_same_device(model, x)
        self.threat.check_domain(tuple(x.shape[1:]), domain)
        y = space.check_hard_labels(y).to(x.device)
        if len(y) != len(x):
            raise ConfigError(f"got {len(x)} inputs but {len(y)} labels")
        target = self._check_target(space, target, x, y)
        if len(x) == 0:
            empty = torch.empty(0, dtype=torch.int64, device=x.device)
            return AttackResult(x.detach().clone(), empty, empty.bool(), Cost())
        counter = PassCounter(model)
        try:
            found = self.run(model, space, x.detach(), y, target, domain)
            pred = found.pred
            if pred is None:
                with torch.no_grad():
                    pred = space.decide(model(found.x_adv), y)
        finally:
            cost = counter.close()
        success = pred != y if target is None else pred == target
        return AttackResult(found.x_adv.detach(), pred, success, cost + found.extra_cost)

    @staticmethod
    def _check_target(space: LabelSpace, target: Tensor | None, x: Tensor, y: Tensor) -> Tensor | None:
        if target is None:
            return None
        target = space.check_hard_labels(torch.as_tensor(target)).to(x.device)
        if target.ndim == 0 or len(target) != len(x):
            raise ConfigError(f"target must hold one class per input ({len(x)}), got shape {tuple(target.shape)}")
        if (target == y).any():
            raise ConfigError(
                f"target class equals the true class for samples {(target == y).nonzero().flatten()[:5].tolist()}; "
                "leave those samples out of a targeted attack"
            )
        return target

    @abstractmethod
    def run(self, model: torch.nn.Module, space: LabelSpace, x: Tensor, y: Tensor, target: Tensor | None, domain: Box) -> Search:
        """Search; ``x`` is never empty here and already validated."""

    def clip(self, x: Tensor, x_adv: Tensor, domain: Box = UNIT_BOX) -> Tensor:
        """Project onto the threat model around ``x``, then into the input domain."""
        return domain.clip(x + self.threat.project(x_adv - x))


class GradientAttack(Attack):
    """An attack that follows the input gradient of a caller-chosen ``objective``.

    ``objective``: a registered name (``loss``, ``margin``, ``dlr``, ``ce``). Subclasses
    implement ``run`` (the evaluation search, with success tests and best points) and
    ``maximize`` (the inner maximisation of adversarial training: a fixed amount of work on
    every sample, no success test, any objective callable).
    """

    default_objective: ClassVar[str] = "loss"

    def __init__(self, threat: ThreatModel, objective: str | None = None) -> None:
        super().__init__(threat)
        self._objective_name = self.default_objective if objective is None else objective
        self.objective = OBJECTIVES.get(self._objective_name)

    @property
    def objective_name(self) -> str:
        return self._objective_name

    @abstractmethod
    def maximize(
        self, model: torch.nn.Module, space: LabelSpace, x: Tensor, y: Tensor, objective: Objective | None = None, domain: Box = UNIT_BOX
    ) -> Tensor:
        """The inner maximisation: a point of the threat model around ``x`` (inside ``domain``)
        that raises ``objective`` (same signature as the registered ones; None: the attack's
        own). No input validation and no success test: training data is already checked, and
        the cost is fixed (e.g. exactly ``steps`` gradient passes for PGD)."""

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


class PublishedAttack(Attack):
    """An attack run through a published package with its own losses on the class scores.

    ``published_objective`` names those losses; there is no ``objective`` parameter, so none
    can be passed and silently ignored (``make_attack`` says so in one line)."""

    published_objective: ClassVar[str]

    @property
    def objective_name(self) -> str:
        return self.published_objective

    @property
    def adaptive(self) -> bool:
        return True  # the packages attack space.scores, never the label space's own loss

    def from_package(self, x: Tensor, u_adv: Tensor, domain: Box) -> Tensor:
        """The package's points in the caller's coordinates. On images they are returned as the
        package made them (it projects onto the ball and [0, 1] itself; projecting again would
        move a few values by one float ulp and the results would no longer be the published
        ones); from another box they are mapped back and projected again, since the affine
        round trip can leave the ball or the box by rounding."""
        u_adv = u_adv.detach()
        if domain == UNIT_BOX:
            return u_adv
        return self.clip(x, domain.from_unit(u_adv), domain)
