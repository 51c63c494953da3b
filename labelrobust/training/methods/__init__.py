"""Training methods (methods.md §2–§4) and their reweighted composites.

``make_method(cfg, space)`` resolves ``method.name`` — a registered method (``standard``,
``noise``, ``at``, ``trades``, ``mart``, ``wpgd``) or a composite that adds instance weights —
into a method and its weighting, checking every setting before any training starts.

Composites (weights from ``labelrobust.training.reweight``; γ, β defaults are CLIRAT's settings
in methods.md §3, and the TRADES composites train with β_TRADES = 5 there):

===============  ==========  =======  ====  =====
name             method      margin   γ     β
===============  ==========  =======  ====  =====
mail-at          at          pm       10    −0.5
mail-trades      trades      pm       2     0
mail-mart        mart        pm       2     0
clirat           at          cl-pm    10    −0.5
clir-trades      trades      cl-pm    2     0
clir-mart        mart        cl-pm    2     0
===============  ==========  =======  ====  =====
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from labelrobust.config import MethodConfig
from labelrobust.errors import ConfigError
from labelrobust.labels import LabelSpace
from labelrobust.training.methods import adversarial, mart, noise, standard, trades, wpgd  # noqa: F401  (registration)
from labelrobust.training.methods.base import BatchLosses, Method
from labelrobust.training.methods.registry import METHODS
from labelrobust.training.reweight import REWEIGHTINGS, Weighting


@dataclass(frozen=True)
class Composite:
    method: str
    reweight: str
    gamma: float
    bias: float
    trades_beta: float | None = None


COMPOSITES = {
    "mail-at": Composite("at", "pm", 10.0, -0.5),
    "mail-trades": Composite("trades", "pm", 2.0, 0.0, trades_beta=5.0),
    "mail-mart": Composite("mart", "pm", 2.0, 0.0),
    "clirat": Composite("at", "cl-pm", 10.0, -0.5),
    "clir-trades": Composite("trades", "cl-pm", 2.0, 0.0, trades_beta=5.0),
    "clir-mart": Composite("mart", "cl-pm", 2.0, 0.0),
}


def available_methods() -> list[str]:
    return sorted([*METHODS.available(), *COMPOSITES])


def make_method(cfg: MethodConfig, space: LabelSpace, epochs: int | None = None) -> tuple[Method, Weighting | None]:
    """The method ``cfg.name`` names and its weighting (None: unweighted), validated."""
    composite = COMPOSITES.get(cfg.name)
    if composite is None and cfg.name not in METHODS:
        raise ConfigError(f"unknown training method {cfg.name!r}; known: {', '.join(available_methods())}")
    base_name = composite.method if composite else cfg.name
    reweight = cfg.reweight if cfg.reweight is not None else (composite.reweight if composite else "none")
    if reweight not in REWEIGHTINGS:
        raise ConfigError(f"method.reweight must be one of {', '.join(REWEIGHTINGS)}, got {reweight!r}")
    if composite and cfg.reweight is not None and cfg.reweight != composite.reweight:
        raise ConfigError(
            f"method {cfg.name!r} reweights by {composite.reweight}; for {reweight} weights use "
            f"method.name={composite.method} with method.reweight={reweight}"
        )
    resolved = dataclasses.replace(
        cfg,
        name=base_name,
        trades_beta=cfg.trades_beta if cfg.trades_beta is not None else (composite.trades_beta if composite else None),
    )
    method = METHODS.get(base_name)(resolved, space)
    if reweight == "none":
        if cfg.gamma is not None or cfg.bias is not None or cfg.burn_in:
            raise ConfigError("method.gamma, method.bias and method.burn_in set the instance weights; they need method.reweight pm or cl-pm")
        return method, None
    if not method.adversarial:
        raise ConfigError(
            f"method.reweight={reweight} weighs samples by the margin of their adversarial example; "
            f"method {base_name!r} has none (use at, trades, mart or wpgd)"
        )
    gamma = cfg.gamma if cfg.gamma is not None else (composite.gamma if composite else 10.0)
    bias = cfg.bias if cfg.bias is not None else (composite.bias if composite else -0.5)
    if not (math.isfinite(gamma) and gamma > 0):
        raise ConfigError(f"method.gamma must be a finite number > 0, got {gamma}")
    if not math.isfinite(bias):
        raise ConfigError(f"method.bias must be finite, got {bias}")
    if epochs is not None and cfg.burn_in >= epochs:
        raise ConfigError(
            f"method.burn_in={cfg.burn_in} covers all {epochs} epochs, so the {reweight} weights would never apply; "
            f"lower it or train longer"
        )
    return method, Weighting(reweight, float(gamma), float(bias), cfg.burn_in)


def describe(method: Method, weighting: Weighting | None) -> dict:
    out = method.describe()
    if weighting is not None:
        out["reweight"] = dataclasses.asdict(weighting)
    return out


__all__ = ["BatchLosses", "COMPOSITES", "METHODS", "Method", "Weighting", "available_methods", "describe", "make_method"]
