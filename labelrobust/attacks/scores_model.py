"""Running the published attack packages on any label space, without side effects.

The published AutoAttack (Croce & Hein 2020, "Reliable evaluation of adversarial robustness
with an ensemble of diverse parameter-free attacks") and Square (Andriushchenko et al. 2020)
treat the model output as logits: they take its arg-max and build CE/DLR/margin losses on it.
``scores_model(model, space)`` hands them ``space.scores(model(x))`` instead, so they attack
the class scores of every label space (for distribution spaces the scores *are* the logits,
so nothing changes there; for code-based spaces the scores remove the masking of their own
saturating loss). ``isolated`` runs the package's code so that the caller sees none of what
it does to global state (see its docstring for the list).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import torch
from torch import Tensor, nn

from labelrobust.attacks.threat import ThreatModel
from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import ConfigError
from labelrobust.labels import LabelSpace
from labelrobust.validation import integer

PUBLISHED_NORMS = {"linf": "Linf", "l2": "L2"}
"""Our norm names → the names the published packages use."""


class ScoresModel(nn.Module):
    """``forward(u) = space.scores(model(domain.from_unit(u)))``.

    The packages assume inputs in [0, 1]; a model whose inputs live in another box (the disk of
    the soft-label study) is presented to them in unit coordinates, where the radius becomes
    ``domain.to_unit_eps(eps)``. For images the map is the identity. The cost of the passes is
    counted by the attack base class on ``model`` itself.
    """

    def __init__(self, model: nn.Module, space: LabelSpace, domain: Box = UNIT_BOX) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise ConfigError(f"scores_model needs a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(space, LabelSpace):
            raise ConfigError(f"scores_model needs a LabelSpace, got {type(space).__name__}")
        self.model = model
        self.space = space
        self.domain = domain
        # nn.Module starts in train mode; mirror the wrapped model instead of claiming a mode
        # it does not have (setting the flag directly leaves the wrapped model alone).
        self.training = model.training

    def forward(self, u: Tensor) -> Tensor:
        x = u if self.domain == UNIT_BOX else self.domain.from_unit(u)
        return self.space.scores(self.model(x))


def scores_model(model: nn.Module, space: LabelSpace, domain: Box = UNIT_BOX) -> ScoresModel:
    """A module whose forward is ``space.scores(model(x))``: what logit-based packages should attack."""
    return ScoresModel(model, space, domain)


def to_unit(x: Tensor, domain: Box) -> Tensor:
    """Inputs in the packages' coordinates ([0, 1]); the identity for images."""
    return x if domain == UNIT_BOX else domain.to_unit(x).clamp_(0.0, 1.0)


def from_unit(u: Tensor, domain: Box) -> Tensor:
    return u if domain == UNIT_BOX else domain.from_unit(u)


@contextmanager
def isolated(model: nn.Module, device: torch.device) -> Iterator[None]:
    """Run published attack code on ``model`` leaving no trace the caller could see.

    What it undoes, each measured on pyautoattack 0.2.0:

    - parameter gradients: FAB calls ``outputs.backward`` on the model's outputs, which fills
      every parameter's ``.grad``. Parameters are frozen for the duration (also saving the
      parameter half of every backward pass) and their ``requires_grad`` restored one by one;
    - the global RNG: every sub-attack calls ``torch.manual_seed(seed)``, which would reset the
      caller's random stream; it is forked and restored;
    - the trace function: AutoAttack's dynamic-defence check calls ``sys.settrace(None)``,
      which would switch off a debugger or coverage tool; the previous one is put back;
    - the train/eval mode: the package does not switch it, but the promise of ``Attack`` is
      kept here rather than left to a third party's implementation.
    """
    modes = [(m, m.training) for m in model.modules()]
    frozen = [p for p in model.parameters() if p.requires_grad]
    tracer = sys.gettrace()
    cuda = device.type == "cuda" or (torch.cuda.is_available() and torch.cuda.is_initialized())
    devices = list(range(torch.cuda.device_count())) if cuda else []
    try:
        for p in frozen:
            p.requires_grad_(False)
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        for p in frozen:
            p.requires_grad_(True)
        for m, training in modes:  # per module: a model may mix train- and eval-mode parts
            m.training = training
        if sys.gettrace() is not tracer:
            sys.settrace(tracer)


def published_norm(threat: ThreatModel, who: str) -> str:
    """The published packages' name of ``threat``'s norm."""
    if threat.norm not in PUBLISHED_NORMS:
        raise ConfigError(f"{who} supports the norms {', '.join(PUBLISHED_NORMS)}, got {threat.norm!r}")
    return PUBLISHED_NORMS[threat.norm]


def check_seed(seed: int | None, who: str) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f"{who}: seed must be an integer ≥ 0 or None (drawn from torch's RNG), got {seed!r}")
    return seed


def resolve_seed(seed: int | None) -> int:
    """``seed``, or one drawn from torch's global RNG when None, so that a caller who seeds
    torch (as the robust evaluation does per attack and radius) controls the package too.
    (The package itself would fall back to the wall clock.)"""
    return int(torch.randint(2**31 - 1, ())) if seed is None else seed


def check_count(value: object, name: str, who: str, allow_none: bool = False) -> None:
    """Refuse anything but an integer ≥ 1 (or None where allowed)."""
    integer(value, f"{who}: {name}", low=1, allow_none=allow_none)


def pyautoattack() -> ModuleType:
    """The published package, imported on first use (so importing labelrobust never needs it)."""
    try:
        return importlib.import_module("pyautoattack")
    except ImportError as err:
        raise ImportError("the AutoAttack-family attacks need the published package: pip install pyautoattack==0.2.0") from err
