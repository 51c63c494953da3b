"""Training methods (methods.md §2–§4) and their presets.

``make_method(cfg, space)`` makes the method the config's ``method: {name, params}`` names — a
registered method (``standard``, ``noise``, ``at``, ``trades``, ``mart``, ``wpgd``) or a preset
of one (``mail-*``, ``clir*``, ``presets.py``) — with its parameters checked against the
method's declared ``Params`` before any training starts. ``method_params(name, params)`` does
the checking alone (the config does it when it is built).

A new method is one file (a ``Method`` subclass with its ``Params`` dataclass and a
``@METHODS.register`` line) plus its import below.
"""

from __future__ import annotations

from typing import Any

from labelrobust.config import MethodConfig
from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import ConfigError
from labelrobust.labels import LabelSpace
from labelrobust.training.methods import adversarial, mart, noise, presets, standard, trades, wpgd  # noqa: F401  (registration)
from labelrobust.training.methods.base import AdversarialMethod, AdversarialParams, BatchLosses, Method
from labelrobust.training.methods.params import MethodParams, ParamInfo, declared, make_params
from labelrobust.training.methods.presets import Preset
from labelrobust.training.methods.registry import METHODS
from labelrobust.training.reweight import Weighting



def available_methods() -> list[str]:
    """Every name ``method.name`` accepts: methods and presets."""
    return METHODS.available()


def method_class(name: str) -> tuple[type[Method], Preset | None]:
    """The method class ``name`` makes, and the preset it goes through (None: a method itself)."""
    entry = METHODS.get(name)
    if isinstance(entry, Preset):
        return METHODS.get(entry.method), entry
    return entry, None


def method_params(name: str, params: dict[str, Any] | None = None) -> MethodParams:
    """The checked parameters of method ``name`` (a preset's defaults applied): unknown names
    list the accepted ones, a missing required one says what it is, bad values name the key."""
    cls, preset = method_class(name)
    given = dict(params or {}) if preset is None else preset.apply(name, params or {})
    return make_params(cls.Params, name, given)


def method_differences(a: MethodConfig, b: MethodConfig) -> list[str]:
    """The config keys in which two method sections differ in what they compute: ``method.name``
    when they make different methods, else ``method.params.X`` for each parameter that differs.
    Spellings of one experiment do not differ: a preset and its base method with the preset's
    defaults, a default left out or written out, ``8/255`` and its value."""
    (cls_a, _), (cls_b, _) = method_class(a.name), method_class(b.name)
    if cls_a is not cls_b:
        return ["method.name"]
    return [f"method.params.{key}" for key in method_params(a.name, a.params).differences(method_params(b.name, b.params))]


def make_method(
    cfg: MethodConfig, space: LabelSpace, epochs: int | None = None, domain: Box = UNIT_BOX, dataset=None
) -> tuple[Method, Weighting | None]:
    """The method ``cfg`` names, for ``space`` and the data's input ``domain``, and its instance
    weighting (None: unweighted). ``epochs``: the run's length, to refuse a burn-in that covers it.
    ``dataset``: the loaded dataset, for settings that depend on it (``Method.bind_data``; None:
    such settings must not need one)."""
    if not isinstance(cfg, MethodConfig):
        raise ConfigError(f"make_method takes a MethodConfig (name and params), got {type(cfg).__name__}")
    cls, preset = method_class(cfg.name)
    method = cls(space, method_params(cfg.name, cfg.params), domain)
    method.preset = cfg.name if preset is not None else None
    method.bind_data(dataset)
    w = method.weighting
    if w is not None and epochs is not None and w.burn_in >= epochs:
        raise ConfigError(
            f"method {cfg.name!r}: burn_in={w.burn_in} covers all {epochs} epochs, so the {w.margin} weights would never apply; "
            f"lower it or train longer"
        )
    return method, w


def describe(method: Method) -> dict[str, Any]:
    """The method's settings with every default resolved, and the preset it came from."""
    out = method.describe()
    if getattr(method, "preset", None):
        out = {"name": out["name"], "preset": method.preset, **{k: v for k, v in out.items() if k != "name"}}
    return out


def method_parameters() -> dict[str, tuple[ParamInfo, list[str]]]:
    """Every parameter some registered method declares, with the methods that take it (presets
    take their base method's) — for the ``--method.X`` flags and their help."""
    out: dict[str, tuple[ParamInfo, list[str]]] = {}
    for name in METHODS.available():
        cls, preset = method_class(name)
        if preset is not None:
            continue
        for key, info in declared(cls.Params).items():
            out.setdefault(key, (info, []))[1].append(name)
    return out


__all__ = [
    "AdversarialMethod", "AdversarialParams", "BatchLosses", "METHODS", "Method", "MethodParams", "Preset", "Weighting",
    "available_methods", "describe", "make_method", "method_class", "method_differences", "method_parameters", "method_params",
]
