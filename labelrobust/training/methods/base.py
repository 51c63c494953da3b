"""A training method: the inner point, the outer per-sample loss, and per-sample weights.

A method turns a mini-batch into per-sample losses, split as ``ω_i·weighted_i + rest_i`` so that
instance reweighting (``labelrobust.training.reweight``) multiplies the term its paper weights:
the adversarial loss of AT, the KL term of TRADES, the BCE term of MART (Wang et al.'s MAIL
code weights these). Methods reach the label space only through its interface: the training
loss ``space.loss``, and class (log-)probabilities ``space.log_probabilities`` /
``space.probabilities`` — for code-based spaces (binary, interval) the softmax of the negative
distances to each class's code or interval, which is what TRADES, MART and the margins use there.

Every method declares its parameters as a frozen dataclass (``Method.Params``, see
``params.py``). Adversarial methods (``AdversarialMethod``) share the parameters of the inner
maximisation and of the instance weights; the inner maximisation is any gradient attack
(``labelrobust.attacks.make_inner_maximizer``: PGD by default, ``fgsm-rs`` for fast AT), called
through its one interface ``maximize``.

Methods are side-effect free (style.md §7): the inner maximisation runs the model in eval mode
and restores its mode, gradients are taken with respect to inputs only, and optimisers and
devices are left to the training loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from labelrobust.attacks import ATTACKS, OBJECTIVES, GradientAttack, make_inner_maximizer, make_threat_model, parse_eps
from labelrobust.attacks.objectives import Objective
from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import ConfigError
from labelrobust.labels import LabelSpace
from labelrobust.metrics.inference import eval_mode
from labelrobust.training.methods.params import MethodParams, param, real
from labelrobust.training.reweight import REWEIGHTINGS, Weighting
from labelrobust.validation import boolean, integer, one_of


@dataclass
class BatchLosses:
    """Per-sample loss parts of one mini-batch: ``loss_i = ω_i·weighted_i + rest_i``.

    ``clean_outputs`` / ``attacked_outputs``: model outputs on the clean inputs and on the
    inputs the method trained on (adversarial or noisy), detached, for diagnostics and weights;
    None where the method did not compute them.
    """

    weighted: Tensor
    rest: Tensor | None = None
    clean_outputs: Tensor | None = None
    attacked_outputs: Tensor | None = None

    def total(self, weights: Tensor | None = None) -> Tensor:
        loss = self.weighted if weights is None else weights * self.weighted
        return loss if self.rest is None else loss + self.rest


def kl_per_sample(log_p: Tensor, log_q: Tensor) -> Tensor:
    """``KL(p ‖ q) = Σ_k p_k (log p_k − log q_k)`` per sample, from log-probabilities."""
    return (log_p.exp() * (log_p - log_q)).sum(dim=1)


class Method(ABC):
    """Base class: a method made for one label space and input domain, with its parameters.

    Subclasses set ``name`` (its registered name), ``Params`` (its parameter dataclass) and
    implement ``losses``."""

    name: ClassVar[str]
    Params: ClassVar[type[MethodParams]] = MethodParams
    adversarial: ClassVar[bool] = False

    def __init__(self, space: LabelSpace, params: MethodParams, domain: Box = UNIT_BOX) -> None:
        if not isinstance(params, self.Params):
            raise ConfigError(f"method {self.name!r} takes {self.Params.__name__}, got {type(params).__name__}")
        if not isinstance(domain, Box):
            raise ConfigError(f"method {self.name!r}: domain must be a labelrobust.domain.Box, got {domain!r}")
        self.space, self.params, self.domain = space, params, domain
        self.weighting: Weighting | None = None
        self.preset: str | None = None
        """The preset this method was made through (``make_method``; None: by its own name)."""

    def bind_data(self, dataset) -> None:  # noqa: B027  (a hook: most methods need none)
        """Called by ``make_method`` with the loaded dataset (None when it has none), for
        settings that depend on it (WPGD's metric by name: ``wordnet`` needs the class names)."""

    def start_batch(self, epochs_done: float) -> None:  # noqa: B027  (a hook: most methods need none)
        """Called before each batch with the training progress in epochs (e.g. 1.5)."""

    @abstractmethod
    def losses(self, model: torch.nn.Module, net: torch.nn.Module, x: Tensor, targets: Tensor, labels: Tensor) -> BatchLosses:
        """Per-sample loss parts of a batch. ``model`` is what the loss is computed through (the
        DistributedDataParallel wrapper when distributed), ``net`` the bare network the inner
        attack queries; ``targets`` are the label space's encoded targets, ``labels`` the hard
        labels."""

    def describe(self) -> dict[str, Any]:
        """The settings this method runs with, every default resolved (for run summaries)."""
        return {"name": self.name, "params": self.params.as_dict()}


@dataclass(frozen=True, kw_only=True)
class AdversarialParams(MethodParams):
    """The parameters every adversarial method shares: the inner maximisation and the
    instance weights (MAIL / CLIRAT, ``labelrobust.training.reweight``)."""

    eps: float | str = param(help="radius of the inner attack, e.g. 0.3 on MNIST or 8/255 on CIFAR (fractions allowed)")
    norm: str = param("linf", "inner attack norm: linf or l2")
    inner: str = param("pgd", "the inner maximisation, a gradient attack: pgd (last iterate), fgsm-rs (fast AT: one 1.25·eps step from a random start), fgsm or cw")
    steps: int | None = param(None, "inner attack steps (None: the attack's default, 10 for pgd, 30 for cw; fgsm and fgsm-rs take none)")
    step_size: float | str | None = param(None, "inner attack step (None: the attack's default, 2.5·eps/steps for pgd, 1.25·eps for fgsm-rs)")
    random_start: bool | None = param(None, "start the inner attack at a random point of the ball (None: the attack's default, yes for pgd and fgsm-rs)")
    inner_params: dict = param(help="further parameters of the inner attack, e.g. {momentum: 0.9} or {schedule: apgd} for pgd", factory=dict)
    eps_warmup: int = param(0, "epochs over which eps (and an explicit step_size) ramp up linearly from 0 (0: full eps at once)")
    objective: str | None = param(None, "what the inner attack maximises: None (the method's own; cw: its margin), or loss, margin, ce, dlr")
    reweight: str = param("none", "per-sample weights: none, pm (MAIL's probability margin) or cl-pm (CLIRAT's confused-label margin)")
    gamma: float | None = param(None, "weights sigmoid(−γ·(margin − β)): γ > 0 (None: 10)")
    bias: float | None = param(None, "weights sigmoid(−γ·(margin − β)): β (None: −0.5)")
    burn_in: int = param(0, "epochs during which every instance weight is 1 (CLIRAT: 75)")

    OWN_KEYS: ClassVar[tuple[str, ...]] = ("eps", "norm", "objective", "steps", "step_size", "random_start")
    """Inner-attack settings that are method parameters of their own (not ``inner_params``)."""

    def __post_init__(self) -> None:
        self._set("eps", _radius(self.eps, "eps"))
        one_of(self.norm, ("linf", "l2"), "norm")
        if not isinstance(self.inner, str):
            raise ConfigError(f"inner must name a gradient attack (pgd, fgsm-rs, fgsm, cw), got {self.inner!r}")
        integer(self.steps, "steps", low=1, allow_none=True)
        if self.step_size is not None:
            self._set("step_size", _radius(self.step_size, "step_size"))
        if self.random_start is not None:
            boolean(self.random_start, "random_start")
        if not isinstance(self.inner_params, dict):
            raise ConfigError(f"inner_params must be a mapping of the inner attack's parameters, got {self.inner_params!r}")
        doubled = sorted(set(self.inner_params) & set(self.OWN_KEYS))
        if doubled:
            raise ConfigError(f"set {', '.join(doubled)} as method parameters of their own, not inside inner_params")
        integer(self.eps_warmup, "eps_warmup", low=0)
        if self.objective is not None:
            OBJECTIVES.get(self.objective)  # an unknown name lists the known ones
        self._check_weights()
        self.inner_attack(1.0)  # the inner attack's own checks (its name, its parameters), now

    def _check_weights(self) -> None:
        one_of(self.reweight, REWEIGHTINGS, "reweight")
        self._set("gamma", real(self.gamma, "gamma", low=0, low_open=True, allow_none=True))
        self._set("bias", real(self.bias, "bias", allow_none=True))
        integer(self.burn_in, "burn_in", low=0)
        if self.reweight == "none" and (self.gamma is not None or self.bias is not None or self.burn_in):
            raise ConfigError("gamma, bias and burn_in set the instance weights; they need reweight pm or cl-pm")

    def inner_attack(self, fraction: float = 1.0) -> GradientAttack:
        """The inner maximiser at ``fraction`` of the radius (eps warm-up), as the attack
        registry builds it; settings left None take the attack's own defaults."""
        if not issubclass(ATTACKS.get(self.inner), GradientAttack):
            make_inner_maximizer(self.inner, norm=self.norm, eps=self.eps)  # refuses it, in the attacks' words
        settings = {key: getattr(self, key) for key in ("objective", "steps", "random_start") if getattr(self, key) is not None}
        if self.step_size is not None:
            settings["step_size"] = self.step_size * fraction
        try:
            return make_inner_maximizer(self.inner, norm=self.norm, eps=self.eps * fraction, **settings, **self.inner_params)
        except ConfigError as err:
            raise ConfigError(f"inner attack {self.inner!r}: {err}") from None

    INNER_KEYS: ClassVar[tuple[str, ...]] = ("inner", "steps", "step_size", "random_start", "inner_params")

    def canonical(self) -> dict[str, Any]:
        # the inner attack as built (steps None and steps 10 are one PGD-10), the rest as resolved
        out = {k: v for k, v in self.as_dict().items() if k not in self.INNER_KEYS}
        return {**out, "inner": self.inner_attack(1.0).describe().as_dict()}

    def differences(self, other: MethodParams) -> list[str]:
        found = super().differences(other)
        if "inner" not in found:
            return found
        # name the settings of the inner attacks as built that differ, not the attacks as a whole
        mine, theirs = self.canonical()["inner"], other.canonical()["inner"]
        keys = {"inner"} if mine["name"] != theirs["name"] else set()
        budget_a, budget_b = mine["budget"], theirs["budget"]
        for key in sorted(set(budget_a) | set(budget_b)):
            if budget_a.get(key) != budget_b.get(key):
                keys.add(key if key in self.INNER_KEYS else "inner_params")
        return sorted((set(found) - {"inner"}) | (keys or {"inner"}))

    def weighting(self) -> Weighting | None:
        if self.reweight == "none":
            return None
        return Weighting(self.reweight, 10.0 if self.gamma is None else self.gamma, -0.5 if self.bias is None else self.bias, self.burn_in)


def _radius(value: Any, what: str) -> float:
    try:
        radius = parse_eps(value)
    except ConfigError:
        raise ConfigError(f"{what} must be a number or a fraction like 8/255, got {value!r}") from None
    return real(radius, what, low=0)


class AdversarialMethod(Method):
    """A method that trains on the point its inner attack finds in the threat model."""

    Params: ClassVar[type[MethodParams]] = AdversarialParams
    adversarial: ClassVar[bool] = True
    inner_objective_doc: ClassVar[str] = "the label space's training loss"

    def __init__(self, space: LabelSpace, params: AdversarialParams, domain: Box = UNIT_BOX) -> None:
        super().__init__(space, params, domain)
        self.threat = make_threat_model(params.norm, params.eps)
        self.inner = params.inner_attack(1.0)
        self._fraction = 1.0
        self.weighting = params.weighting()
        # None: the attack maximises its own objective — one the user chose (params.objective)
        # or one the attack fixes (cw: the margin); otherwise the method's own, per batch
        self._attack_objective = params.objective is not None or type(self.inner).default_objective != GradientAttack.default_objective

    def check_input_shape(self, input_shape: tuple[int, ...]) -> None:
        """Refuse a radius that covers the whole input domain (every input reachable)."""
        self.threat.check_domain(tuple(input_shape), self.domain, "method.params.eps")

    def start_batch(self, epochs_done: float) -> None:
        """During the first ``eps_warmup`` epochs the inner radius (and an explicit step size)
        ramps linearly from 0 to eps, which small models need to leave chance level under a
        large eps (MNIST at 0.3)."""
        if not self.params.eps_warmup:
            return
        fraction = min(1.0, epochs_done / self.params.eps_warmup)
        if fraction != self._fraction:
            self.inner, self._fraction = self.params.inner_attack(fraction), fraction

    def inner_point(self, net: torch.nn.Module, x: Tensor, labels: Tensor, own_objective: Objective) -> Tensor:
        """The inner maximisation (``attack.maximize``), run with ``net`` in eval mode inside the
        data's input domain."""
        objective = None if self._attack_objective else own_objective
        with eval_mode(net):
            return self.inner.maximize(net, self.space, x, labels, objective, self.domain)

    def training_loss_objective(self, targets: Tensor) -> Objective:
        """The label space's training loss on this batch's targets, as an attack objective
        (so soft-label spaces are attacked on their soft targets, as they train)."""
        return lambda space, outputs, y, target: space.loss(outputs, targets)

    def describe(self) -> dict[str, Any]:
        inner = self.params.inner_attack(1.0).describe()
        objective = inner.objective if self._attack_objective else self.inner_objective_doc
        out = {**super().describe(), "inner": {**inner.as_dict(), "objective": objective}}
        if self.weighting is not None:
            out["reweight"] = {"margin": self.weighting.margin, "gamma": self.weighting.gamma, "bias": self.weighting.bias, "burn_in": self.weighting.burn_in}
        return out
