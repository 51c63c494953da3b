"""How a training method declares its parameters: a frozen dataclass of keyword-only fields.

Each method names its parameter class (``Method.Params``); every field is one parameter, with
its default (none: the parameter is required) and a help text (``param(..., help=...)``) that
``labelrobust train --help`` and the README show. The config's ``method.params`` mapping is
checked against these fields exactly as label-space parameters are checked against the label
space's constructor: an unknown name is a one-line error that lists the accepted ones, and a
missing required one says what it is. The dataclass's ``__post_init__`` checks the values
(``labelrobust.validation``), so a config is fully checked when it is built; only what needs
the label space or the data (a WPGD cost matrix's size, a noise σ against the input domain)
waits until the method is made.
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, dataclass, field
from typing import Any

from labelrobust.errors import ConfigError
from labelrobust.validation import number
from labelrobust.yaml_values import float_from_text


def param(default: Any = MISSING, help: str = "", *, factory: Any = None) -> Any:
    """A method parameter with its help text; no default (and no factory) makes it required."""
    meta = {"help": help}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True, kw_only=True)
class MethodParams:
    """The parameters of a method without any (``standard``)."""

    def as_dict(self) -> dict[str, Any]:
        """Every parameter with its resolved value (for run summaries)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def canonical(self) -> dict[str, Any]:
        """What the parameters compute, so that two spellings of one experiment compare equal
        (``eps: 8/255`` and ``0.0314…``; a default left out and written out)."""
        return self.as_dict()

    def differences(self, other: MethodParams) -> list[str]:
        """The parameters in which ``other`` (of the same class) computes something else."""
        mine, theirs = self.canonical(), other.canonical()
        return [key for key in mine if mine[key] != theirs[key]]

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # frozen: the documented way to normalise in __post_init__


@dataclass(frozen=True)
class ParamInfo:
    """One declared parameter: its name, default (``required`` when it has none) and help."""

    name: str
    default: Any
    required: bool
    help: str


def declared(cls: type[MethodParams]) -> dict[str, ParamInfo]:
    """The parameters ``cls`` declares, in declaration order."""
    out = {}
    for f in dataclasses.fields(cls):
        required = f.default is MISSING and f.default_factory is MISSING
        default = None if required else (f.default if f.default is not MISSING else f.default_factory())
        out[f.name] = ParamInfo(f.name, default, required, f.metadata.get("help", ""))
    return out


def make_params(cls: type[MethodParams], method: str, given: dict[str, Any]) -> MethodParams:
    """``cls(**given)`` for the method called ``method``, with one-line errors: unknown
    parameters list the accepted ones, a missing required one says what it is, and a bad value
    names the method and the parameter."""
    if not isinstance(given, dict):
        raise ConfigError(f"method {method!r}: params must be a mapping of parameter names to values, got {given!r}")
    info = declared(cls)
    unknown = sorted(set(given) - set(info), key=str)
    if unknown:
        raise ConfigError(
            f"method {method!r} has no parameter {', '.join(map(repr, unknown))}; accepted: {', '.join(info) or 'none'}"
        )
    missing = [p for p in info.values() if p.required and given.get(p.name) is None]
    if missing:
        p = missing[0]
        raise ConfigError(f"method {method!r} needs parameter {p.name} (method.params.{p.name}): {p.help}; there is no default")
    try:
        return cls(**given)
    except ConfigError as err:
        raise ConfigError(f"method {method!r}: {err}") from None


def real(value: Any, what: str, **bounds: Any) -> float | None:
    """``labelrobust.validation.number`` that also reads numbers written as text (``"1e-3"``,
    ``"inf"``), as a config file or a shell passes them."""
    if isinstance(value, str):
        parsed = float_from_text(value)
        value = value if parsed is None else parsed
    return number(value, what, **bounds)
