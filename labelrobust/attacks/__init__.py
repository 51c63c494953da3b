"""Attacks on any label space, on the model's raw inputs: FGSM and FGSM-RS, PGD (momentum,
APGD schedule, restarts, targets, top-class targets), CW-L∞, APGD-CE/APGD-DLR, AutoAttack and
Square (through the published pyautoattack package, on the label space's scores), and transfer
attacks crafted on a source model.

``make_attack(name, norm=..., eps=..., **params)``; ``available_attacks()`` lists the names.
Gradient attacks maximise an objective from ``objectives.py`` computed through the label space
and double as the inner maximisation of training (``maximize``); published attacks bring their
own losses. ``attack.describe()`` says what an attack is; ``result.cost`` what it spent.
"""

from __future__ import annotations

import inspect

from labelrobust.attacks import autoattack, fgsm, pgd, square, transfer  # noqa: F401  (registration)
from labelrobust.attacks.base import (
    BLACK_BOX,
    ENSEMBLE,
    TRANSFER,
    WHITE_BOX,
    Attack,
    AttackDescription,
    AttackResult,
    Cost,
    GradientAttack,
    PublishedAttack,
    check_inputs,
)
from labelrobust.attacks.objectives import OBJECTIVES
from labelrobust.attacks.registry import ATTACKS
from labelrobust.attacks.threat import L2, Linf, ThreatModel, make_threat_model, parse_eps
from labelrobust.errors import ConfigError

__all__ = [
    "ATTACKS", "BLACK_BOX", "ENSEMBLE", "OBJECTIVES", "TRANSFER", "WHITE_BOX", "Attack", "AttackDescription", "AttackResult", "Cost",
    "GradientAttack", "L2", "Linf", "PublishedAttack", "ThreatModel", "available_attacks", "check_inputs", "make_attack",
    "make_inner_maximizer", "make_threat_model", "parse_eps",
]


def available_attacks() -> list[str]:
    return ATTACKS.available()


def make_attack(name: str, *, norm: str, eps: float | str, **params) -> Attack:
    """The attack ``name`` in the ``norm`` ball of radius ``eps`` (both required, no defaults)."""
    cls = ATTACKS.get(name)
    accepted = set()
    for klass in cls.__mro__:
        if klass is not object and "__init__" in vars(klass):
            accepted |= {p for p in inspect.signature(klass.__init__).parameters if p not in ("self", "threat", "kwargs")}
    unknown = sorted(set(params) - accepted)
    if "objective" in unknown and not issubclass(cls, GradientAttack):
        raise ConfigError(
            f"attack {name!r} takes no objective: it runs a published package with its own losses on the class scores "
            f"({cls.__doc__.splitlines()[0].strip() if cls.__doc__ else name}); use pgd, fgsm or cw to choose an objective"
        )
    if unknown:
        raise ConfigError(f"attack {name!r} has no parameter {', '.join(map(repr, unknown))}; accepted: {', '.join(sorted(accepted))}")
    return cls(make_threat_model(norm, eps), **params)


def make_inner_maximizer(name: str, *, norm: str, eps: float | str, **params) -> GradientAttack:
    """A gradient attack for the inner maximisation of training (``attack.maximize``): ``pgd``,
    ``fgsm-rs``, ``fgsm``, ``cw``, or any registered gradient attack; others are refused."""
    attack = make_attack(name, norm=norm, eps=eps, **params)
    if not isinstance(attack, GradientAttack):
        gradient = sorted(n for n in ATTACKS.available() if issubclass(ATTACKS.get(n), GradientAttack))
        raise ConfigError(f"attack {name!r} cannot be an inner maximisation (it is not a gradient attack with an objective); use one of {', '.join(gradient)}")
    return attack
