"""Label spaces: how classes are encoded, scored, decoded (with abstain) and trained.

``make_label_space(name, num_classes, **params)`` is the entry point; ``available_label_spaces()``
lists the names. See ``base.LabelSpace`` for the interface every space implements.
"""

from __future__ import annotations

import inspect
from typing import Any

from labelrobust.errors import ConfigError
from labelrobust.labels import binary, interval, multilabel, onehot, smoothing, soft, wasserstein  # noqa: F401  (registration)
from labelrobust.labels.base import ABSTAIN, LabelSpace
from labelrobust.labels.registry import LABEL_SPACES

__all__ = ["ABSTAIN", "LABEL_SPACES", "LabelSpace", "available_label_spaces", "make_label_space"]


def available_label_spaces() -> list[str]:
    """Names accepted by ``make_label_space``."""
    return LABEL_SPACES.available()


def make_label_space(name: str, num_classes: int, **params: Any) -> LabelSpace:
    """The label space called ``name`` for ``num_classes`` classes, with its parameters.

    Unknown names list the known ones; unknown parameters list the accepted ones.
    """
    cls = LABEL_SPACES.get(name)
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "num_classes")]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(
            f"label space {name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(accepted) or 'none'}"
        )
    return cls(num_classes, **params)
