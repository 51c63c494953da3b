"""Attacks on any label space, in pixel space: FGSM, PGD (momentum, restarts, targets), CW-L∞,
APGD-CE/APGD-DLR, AutoAttack and Square (through the published pyautoattack package, on the
label space's scores), and transfer attacks crafted on a source model.

``make_attack(name, norm=..., eps=..., **params)``; ``available_attacks()`` lists the names.
Every attack maximises an objective from ``objectives.py`` computed through the label space.
"""

from __future__ import annotations

import inspect

from labelrobust.attacks import autoattack, fgsm, pgd, square, transfer  # noqa: F401  (registration)
from labelrobust.attacks.base import Attack, AttackResult, check_inputs
from labelrobust.attacks.objectives import OBJECTIVES
from labelrobust.attacks.registry import ATTACKS
from labelrobust.attacks.threat import L2, Linf, ThreatModel, make_threat_model, parse_eps
from labelrobust.errors import ConfigError

__all__ = ["ATTACKS", "OBJECTIVES", "Attack", "AttackResult", "L2", "Linf", "ThreatModel", "available_attacks", "check_inputs", "make_attack", "make_threat_model", "parse_eps"]


def available_attacks() -> list[str]:
    return ATTACKS.available()


def make_attack(name: str, *, norm: str, eps: float | str, **params) -> Attack:
    """The attack ``name`` in the ``norm`` ball of radius ``eps`` (both required, no defaults)."""
    cls = ATTACKS.get(name)
    accepted = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            accepted |= {p for p in inspect.signature(klass.__init__).parameters if p not in ("self", "threat", "kwargs")}
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ConfigError(f"attack {name!r} has no parameter {', '.join(map(repr, unknown))}; accepted: {', '.join(sorted(accepted))}")
    return cls(make_threat_model(norm, eps), **params)
