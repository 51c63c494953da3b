"""Output properties, written the way VNN-LIB writes them: as the **unsafe** set of outputs.

A property is a disjunction of clauses; each clause is a conjunction of linear constraints
``c·y + d ≥ 0`` on the network's outputs ``y``. An output violates the property when it
satisfies every constraint of at least one clause. Its **margin** is

    m(y) = max_i min_j (C_i y + d_i)_j ,

so ``m(y) ≥ 0`` ⇔ ``y`` is unsafe, and the input set is robust ⇔ ``max_{x'} m(f(x')) < 0``.
Ties (``m = 0``) count as violations, as VNN-LIB's non-strict ``>=`` does.

- ``argmax_property(t)``: the target t stays the arg-max: one clause ``y_j − y_t ≥ 0`` per
  j ≠ t, so ``m = max_{j≠t} y_j − y_t`` (the CW margin).
- ``top2_property(t)``: the multi-label study's property (methods.md §5), the target stays in
  the top-2 set: t leaves it ⇔ two other classes j < k both score ≥ y_t, one clause
  ``{y_j − y_t ≥ 0, y_k − y_t ≥ 0}`` per pair, so ``m = min(y_j, y_k) − y_t`` maximised over
  pairs = (2nd-highest non-target score) − y_t. That is the exact *pairwise decomposition*;
  the MILP also offers a direct encoding of the 2nd-highest with selection variables
  (``kind == "top2"``), and a test shows both agree.
- ``linear_property(clauses)``: any disjunction of conjunctions (what VNN-LIB expresses).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

import torch
from torch import Tensor

from labelrobust.errors import ConfigError
from labelrobust.validation import integer

DTYPE = torch.float64


@dataclass(frozen=True, eq=False)
class Clause:
    """``coefficients @ y + offsets ≥ 0`` row by row (m×K and m, float64)."""

    coefficients: Tensor
    offsets: Tensor

    def values(self, y: Tensor) -> Tensor:
        """N×m constraint values for outputs ``y`` (N×K)."""
        return y.to(self.coefficients.dtype) @ self.coefficients.T + self.offsets


@dataclass(frozen=True, eq=False)
class OutputProperty:
    """The unsafe output set as a disjunction of ``clauses`` over ``num_outputs`` outputs.

    ``kind`` is ``argmax``, ``top2`` or ``linear``; ``target`` the protected class (None for a
    general linear property).
    """

    clauses: tuple[Clause, ...]
    num_outputs: int
    kind: str = "linear"
    target: int | None = None

    def __post_init__(self) -> None:
        if not self.clauses:
            raise ConfigError("a property needs at least one clause (an empty disjunction is never violated)")
        for i, clause in enumerate(self.clauses):
            c, d = clause.coefficients, clause.offsets
            if c.ndim != 2 or c.shape[1] != self.num_outputs or c.shape[0] == 0 or d.shape != (c.shape[0],):
                raise ConfigError(f"clause {i} must have m×{self.num_outputs} coefficients and m offsets (m ≥ 1), got {tuple(c.shape)} and {tuple(d.shape)}")
            if not (torch.isfinite(c).all() and torch.isfinite(d).all()):
                raise ConfigError(f"clause {i} has NaN or inf coefficients")

    def margin(self, y: Tensor) -> Tensor:
        """``m(y) = max_i min_j (C_i y + d_i)_j`` per row of ``y`` (N×K); ≥ 0 means unsafe."""
        if y.ndim != 2 or y.shape[1] != self.num_outputs:
            raise ConfigError(f"the property reads outputs of shape (N, {self.num_outputs}), got {tuple(y.shape)}")
        if self.kind == "top2":  # the same value as the clauses, without 36 of them per row
            return second_highest_other(y, self.target) - y[:, self.target]
        per_clause = [clause.values(y).amin(dim=1) for clause in self.clauses]
        return torch.stack(per_clause, dim=1).amax(dim=1)

    def clause_margins(self, y: Tensor) -> Tensor:
        """N×clauses: ``min_j (C_i y + d_i)_j`` of each clause (the pairwise decomposition)."""
        return torch.stack([clause.values(y).amin(dim=1) for clause in self.clauses], dim=1)

    def violated(self, y: Tensor) -> Tensor:
        return self.margin(y) >= 0

    def describe(self) -> dict:
        return {"kind": self.kind, "target": self.target, "clauses": len(self.clauses), "outputs": self.num_outputs}


def second_highest_other(y: Tensor, target: int) -> Tensor:
    """The 2nd-highest score among the classes other than ``target``, per row."""
    others = torch.cat([y[:, :target], y[:, target + 1:]], dim=1)
    return others.topk(2, dim=1).values[:, 1]


def _target(target: int, num_outputs: int, what: str) -> int:
    integer(num_outputs, f"{what}: number of outputs", low=2)
    t = integer(target, f"{what}: target class", low=0)
    if t >= num_outputs:
        raise ConfigError(f"{what}: target class {t} is not one of the network's {num_outputs} outputs (0..{num_outputs - 1})")
    return t


def _difference_row(j: int, t: int, k: int) -> Tensor:
    row = torch.zeros(k, dtype=DTYPE)
    row[j] += 1.0
    row[t] -= 1.0
    return row


def argmax_property(target: int, num_outputs: int) -> OutputProperty:
    """The target stays the arg-max (single-label robustness)."""
    t = _target(target, num_outputs, "argmax property")
    clauses = tuple(Clause(_difference_row(j, t, num_outputs)[None], torch.zeros(1, dtype=DTYPE)) for j in range(num_outputs) if j != t)
    return OutputProperty(clauses, num_outputs, "argmax", t)


def top2_property(target: int, num_outputs: int, label_set: Iterable[int] | Tensor | None = None) -> OutputProperty:
    """The target stays in the top-2 set (the multi-label study's property).

    ``label_set`` (class indices or a K-long 0/1 vector), when given, must contain the target:
    protecting a class the image does not show is a mistake the verifier refuses.
    """
    t = _target(target, num_outputs, "top2 property")
    if num_outputs < 3:
        raise ConfigError(f"top2 property needs at least 3 outputs (with 2 every class is always in the top 2), got {num_outputs}")
    if label_set is not None:
        members = _members(label_set, num_outputs)
        if t not in members:
            raise ConfigError(f"target class {t} is not in the image's label set {sorted(members)}; the property protects a class the image shows")
    others = [j for j in range(num_outputs) if j != t]
    clauses = tuple(
        Clause(torch.stack([_difference_row(j, t, num_outputs), _difference_row(k, t, num_outputs)]), torch.zeros(2, dtype=DTYPE))
        for j, k in combinations(others, 2)
    )
    return OutputProperty(clauses, num_outputs, "top2", t)


def _members(label_set: Iterable[int] | Tensor, k: int) -> set[int]:
    values = label_set.tolist() if isinstance(label_set, Tensor) else list(label_set)
    if len(values) == k and set(values) <= {0, 1}:
        return {i for i, v in enumerate(values) if v}
    return {int(v) for v in values}


def linear_property(clauses: Sequence[tuple[Sequence[Sequence[float]], Sequence[float]]], num_outputs: int) -> OutputProperty:
    """A general property from ``[(C_i, d_i), …]``: unsafe ⇔ some ``C_i y + d_i ≥ 0`` holds."""
    integer(num_outputs, "linear property: number of outputs", low=1)
    built = []
    for i, (c, d) in enumerate(clauses):
        try:
            built.append(Clause(torch.as_tensor(c, dtype=DTYPE).reshape(len(d), -1), torch.as_tensor(d, dtype=DTYPE)))
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"clause {i} of the linear property is not an m×{num_outputs} matrix with m offsets: {exc}") from None
    return OutputProperty(tuple(built), num_outputs, "linear", None)


PROPERTIES = {"argmax": argmax_property, "top2": top2_property}
