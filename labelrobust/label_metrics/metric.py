"""A label metric: a K×K matrix of distances between classes, with the class names it is for.

Cost-sensitive training and analysis (methods.md §4, Terzi, Susto, Chaudhari) need a matrix
``C`` that is square, finite, non-negative, symmetric and zero on the diagonal. ``LabelMetric``
holds one with its class names, so that a metric computed for one dataset cannot silently be
used, in another order, for another: ``for_classes`` reorders it by name (or refuses).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass

import numpy as np
import torch

from labelrobust.errors import ConfigError

SYMMETRY_RTOL = 1e-6
SYMMETRY_ATOL = 1e-9


@dataclass(frozen=True, eq=False)  # an ndarray field: compare with np.array_equal or fingerprint(), not ==
class LabelMetric:
    """``matrix[i, j]``: the distance between classes ``class_names[i]`` and ``class_names[j]``.

    ``source`` says where it came from (``wordnet:path``, ``linear-boundary``, ``visual:boundary``,
    ``file:PATH``, ...); ``details`` holds what reproduces it (the run, the similarity, ...).
    """

    matrix: np.ndarray
    class_names: tuple[str, ...]
    source: str
    details: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "matrix", validate_matrix(self.matrix, f"label metric ({self.source})"))
        names = tuple(str(n) for n in self.class_names)
        if len(names) != self.matrix.shape[0]:
            raise ConfigError(
                f"label metric ({self.source}): {len(names)} class names for a {self.matrix.shape[0]}×{self.matrix.shape[0]} matrix; expected one name per row"
            )
        check_unique_names(names, f"label metric ({self.source})")
        object.__setattr__(self, "class_names", names)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def power(self, p: float) -> LabelMetric:
        """The element-wise power ``C^{⊙p}`` (p > 0), still a valid metric matrix."""
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) or p <= 0:
            raise ConfigError(f"label metric power p must be a finite number > 0, got {p!r}")
        return dataclasses.replace(self, matrix=self.matrix ** float(p), details={**self.details, "power": float(p)})

    def for_classes(self, class_names: tuple[str, ...] | list[str], where: str = "") -> LabelMetric:
        """This metric restricted to and reordered as ``class_names`` (matched exactly, else
        ignoring case, spaces, ``_`` and ``-``); a name it lacks is a one-line error."""
        index = match_class_names(self.class_names, class_names, f"{where or 'label metric'} ({self.source})")
        idx = np.asarray(index)
        return dataclasses.replace(self, matrix=self.matrix[np.ix_(idx, idx)], class_names=tuple(class_names))

    def tensor(self, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> torch.Tensor:
        return torch.as_tensor(self.matrix, dtype=dtype, device=device)

    def off_diagonal(self) -> np.ndarray:
        """The entries ``C[i, j]`` with ``i ≠ j``, row by row (the pairs the study correlates over)."""
        return off_diagonal(self.matrix)

    def fingerprint(self) -> str:
        """SHA-256 of the float64 matrix bytes and the class names: what a run records, so two
        runs can tell whether they trained with the same metric."""
        h = hashlib.sha256(np.ascontiguousarray(self.matrix, dtype="<f8").tobytes())
        h.update("\x1f".join(self.class_names).encode("utf-8"))
        return h.hexdigest()


def off_diagonal(matrix) -> np.ndarray:
    """The entries ``[i, j]`` of a square matrix with ``i ≠ j``, row by row."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return matrix[~np.eye(len(matrix), dtype=bool)]


def validate_matrix(matrix, where: str) -> np.ndarray:
    """``matrix`` as float64 K×K, or a one-line ConfigError naming the first property it breaks:
    numeric, square, finite, non-negative, symmetric (to 1e-6 relative), zero diagonal."""
    try:
        c = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where} is not a numeric matrix ({err}); expected a K×K matrix of numbers") from None
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] == 0:
        raise ConfigError(f"{where} must be square (K×K, K ≥ 1), got shape {c.shape}")
    if not np.isfinite(c).all():
        i, j = np.argwhere(~np.isfinite(c))[0]
        raise ConfigError(f"{where} must be finite; C[{i},{j}] = {c[i, j]}")
    if (c < 0).any():
        i, j = np.argwhere(c < 0)[0]
        raise ConfigError(f"{where} must be non-negative; C[{i},{j}] = {c[i, j]}")
    if not np.allclose(c, c.T, rtol=SYMMETRY_RTOL, atol=SYMMETRY_ATOL):
        i, j = np.argwhere(~np.isclose(c, c.T, rtol=SYMMETRY_RTOL, atol=SYMMETRY_ATOL))[0]
        raise ConfigError(f"{where} must be symmetric; C[{i},{j}] = {c[i, j]} but C[{j},{i}] = {c[j, i]}")
    if (np.diagonal(c) != 0).any():
        i = int(np.flatnonzero(np.diagonal(c) != 0)[0])
        raise ConfigError(f"{where} must be zero on the diagonal; C[{i},{i}] = {c[i, i]}")
    return c


def check_unique_names(names: tuple[str, ...], where: str) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name.strip():
            raise ConfigError(f"{where}: class name {i} is empty; expected one non-empty name per class")
        if name in seen:
            raise ConfigError(f"{where}: class name {name!r} appears twice (columns {seen[name]} and {i})")
        seen[name] = i


def normalised_name(name: str) -> str:
    """``'Maple_Tree'``, ``'maple tree'`` and ``'maple-tree'`` compare equal."""
    return " ".join(str(name).lower().replace("_", " ").replace("-", " ").split())


def match_class_names(have: tuple[str, ...], want, where: str) -> list[int]:
    """For each name of ``want``, the index of the same class in ``have`` (exact match first,
    then normalised); a one-line ConfigError lists the names ``have`` lacks."""
    want = tuple(str(n) for n in want)
    exact = {n: i for i, n in enumerate(have)}
    loose: dict[str, list[int]] = {}
    for i, n in enumerate(have):
        loose.setdefault(normalised_name(n), []).append(i)
    index, missing = [], []
    for name in want:
        if name in exact:
            index.append(exact[name])
        elif len(loose.get(normalised_name(name), [])) == 1:
            index.append(loose[normalised_name(name)][0])
        else:
            missing.append(name)
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ConfigError(
            f"{where} has no class {shown} ({len(missing)} of {len(want)} missing); it is for "
            f"{', '.join(have[:6])}{' ...' if len(have) > 6 else ''}: expected a metric over the dataset's classes"
        )
    if len(set(index)) != len(index):
        raise ConfigError(f"{where}: two of the dataset's class names match the same metric class; expected distinct classes")
    return index
