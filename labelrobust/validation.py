"""The one place that checks plain parameter values (counts, numbers, flags), so that every
component refuses a bad value with the same kind of one-line message.

Each check returns the value (normalised: an int, a float, a bool) or raises ``ConfigError``
naming ``what`` (e.g. ``"pgd: steps"``), what was expected and what was given. ``bool`` is
never accepted as a number, although Python treats ``True`` as 1.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

from labelrobust.errors import ConfigError


def integer(value: Any, what: str, *, low: int | None = None, allow_none: bool = False) -> int | None:
    """An integer ``≥ low`` (when given), or None where allowed."""
    if value is None and allow_none:
        return None
    bound = "" if low is None else f" ≥ {low}"
    if isinstance(value, bool) or not isinstance(value, Integral) or (low is not None and value < low):
        none = " or None" if allow_none else ""
        raise ConfigError(f"{what} must be an integer{bound}{none}, got {value!r}")
    return int(value)


def positive_int(value: Any, what: str) -> int:
    """An integer ≥ 1."""
    return integer(value, what, low=1)


def number(
    value: Any,
    what: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
    allow_none: bool = False,
) -> float | None:
    """A real number (finite unless ``allow_inf``) inside the interval the bounds describe;
    ``low_open``/``high_open`` exclude the bound itself."""
    if value is None and allow_none:
        return None
    ok = not isinstance(value, bool) and isinstance(value, Real) and not math.isnan(value) and (allow_inf or math.isfinite(value))
    if ok:
        value = float(value)
        ok = (low is None or (value > low if low_open else value >= low)) and (high is None or (value < high if high_open else value <= high))
    if not ok:
        raise ConfigError(f"{what} must be {_interval(low, high, low_open, high_open, allow_inf)}, got {value!r}")
    return value


def _interval(low, high, low_open, high_open, allow_inf) -> str:
    kind = "a number" if allow_inf else "a finite number"
    if low is not None and high is not None:
        return f"{kind} in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{kind} {'>' if low_open else '≥'} {low:g}"
    if high is not None:
        return f"{kind} {'<' if high_open else '≤'} {high:g}"
    return kind


def boolean(value: Any, what: str) -> bool:
    """True or False (not 0/1, not "yes")."""
    if not isinstance(value, bool):
        raise ConfigError(f"{what} must be true or false, got {value!r}")
    return value


def one_of(value: Any, choices: tuple | list, what: str) -> Any:
    """One of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{what} must be one of {', '.join(map(str, choices))}, got {value!r}")
    return value
