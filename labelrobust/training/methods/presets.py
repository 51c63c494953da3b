"""Presets: registered names for a base method with parameter defaults (MAIL, CLIRAT).

A preset is a name, a base method and the defaults it sets; the user's own parameters override
the defaults, except those the preset *is* (``fixed``: its weighting margin). γ, β are CLIRAT's
settings in methods.md §3, and the TRADES presets train with β_TRADES = 5 there:

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

A new preset is one ``preset(...)`` line below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labelrobust.errors import ConfigError
from labelrobust.training.methods.registry import METHODS


@dataclass(frozen=True)
class Preset:
    """``method`` with ``defaults``; ``fixed`` names the defaults a user may not change."""

    method: str
    defaults: dict[str, Any] = field(default_factory=dict)
    fixed: tuple[str, ...] = ()

    def apply(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """The base method's parameters: the defaults, then ``params`` (the preset ``name``'s)."""
        if not isinstance(params, dict):
            raise ConfigError(f"method {name!r}: params must be a mapping of parameter names to values, got {params!r}")
        for key in self.fixed:
            if key in params and params[key] != self.defaults[key]:
                raise ConfigError(
                    f"method {name!r} is {self.method} with {key} {self.defaults[key]}; for {key} {params[key]} "
                    f"use method {self.method} with params {{{key}: {params[key]}}}"
                )
        return {**self.defaults, **params}

    def summary(self) -> str:
        return f"preset of {self.method}: " + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.defaults.items())


def preset(name: str, what: str, method: str, **defaults: Any) -> Preset:
    """Register the preset ``name`` (``what``: its one-line description)."""
    entry = Preset(method, defaults, fixed=("reweight",) if "reweight" in defaults else ())
    return METHODS.register(name, f"{what} ({entry.summary()})")(entry)


MAIL = "with MAIL's per-sample weights from the probability margin (Liu et al. 2021)"
CLIR = "with CLIRAT's per-sample weights from the confused-label margin (Qiu et al.)"

preset("mail-at", f"AT {MAIL}", "at", reweight="pm", gamma=10.0, bias=-0.5)
preset("mail-trades", f"TRADES {MAIL}", "trades", reweight="pm", gamma=2.0, bias=0.0, trades_beta=5.0)
preset("mail-mart", f"MART {MAIL}", "mart", reweight="pm", gamma=2.0, bias=0.0)
preset("clirat", f"AT {CLIR}", "at", reweight="cl-pm", gamma=10.0, bias=-0.5)
preset("clir-trades", f"TRADES {CLIR}", "trades", reweight="cl-pm", gamma=2.0, bias=0.0, trades_beta=5.0)
preset("clir-mart", f"MART {CLIR}", "mart", reweight="cl-pm", gamma=2.0, bias=0.0)
