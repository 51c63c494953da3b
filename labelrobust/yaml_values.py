"""YAML reading with the numbers people write: ``1e-3``, ``6e-5``, ``3.5e2``, ``inf``.

PyYAML implements YAML 1.1, whose float pattern needs a dot and a signed exponent, so
``1e-3`` and ``6e-5`` load as *strings* and ``inf`` is only understood as ``.inf``. YAML 1.2
(the current spec, and what a reader of a config file expects) reads all of them as floats.
``YAML12Loader`` adds the 1.2 core-schema float patterns to the safe loader; every config
file, flag value and ``KEY=VALUE`` parameter of labelrobust is read through it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from labelrobust.errors import ConfigError

_FLOAT_12 = re.compile(
    r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
        |[-+]?\.?(?:inf|Inf|INF)
        |\.?(?:nan|NaN|NAN))$""",
    re.X,
)


class YAML12Loader(yaml.SafeLoader):
    """The safe loader, reading floats as YAML 1.2 does (no object construction, ever)."""


YAML12Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
YAML12Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+.0123456789iInN"))


def load_yaml(text: str, where: str = "YAML text") -> Any:
    """Parse ``text``; a syntax error becomes a one-line ConfigError naming ``where``."""
    try:
        return yaml.load(text, Loader=YAML12Loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where} is not valid YAML{at}: {problem}") from None


def parse_value(text: str, where: str = "value") -> Any:
    """One command-line value read as a YAML scalar (or flow list/mapping); empty text is None."""
    return load_yaml(text, where) if text.strip() else None


def float_from_text(text: str) -> float | None:
    """A float written as people write it (``6e-5``, ``1E3``, ``1_000.5``, ``inf``, ``.inf``,
    ``-Inf``, ``nan``), or None when ``text`` is no number — the one parser of numbers given as
    text, for config fields and label-space parameters alike."""
    cleaned = text.strip().lower().replace("_", "")
    if cleaned.lstrip("+-") in (".inf", ".nan"):
        cleaned = cleaned.replace(".", "", 1)
    try:
        return float(cleaned)
    except ValueError:
        return None
