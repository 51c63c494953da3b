"""A small, backend-neutral model builder for mixed-integer linear programs, and the contract
every solver backend fulfils.

A ``Model`` holds

    maximise   c·v + c₀
    subject to row_lower ≤ A v ≤ row_upper,   col_lower ≤ v ≤ col_upper,   v_j ∈ {0, 1} (j binary)

with ``A`` stored as sparse blocks. Rows are added in bulk from SciPy sparse matrices
(``add_rows``), so a convolution's millions of nonzeros cost one call, never a Python loop
per nonzero. The objective is always *maximised* (a minimisation is ``−max(−c·v)``).

A backend is a ``Session`` class registered with one line, ``@SOLVERS.register("name")``.
A session loads a model once and keeps itself in step with it: ``sync`` pushes the
columns, rows and bound changes added since the last call, so the per-layer bound
tightening can grow the model layer by layer and re-solve warm. ``solve`` returns a
``SolveResult`` whose ``status`` is one of the normalised strings below, whatever the
backend calls them:

- ``optimal``: ``objective`` is optimal within the solver's gap tolerances; ``bound`` is the
  dual bound (``≥ objective``);
- ``infeasible``: no point satisfies the constraints (``bound = −inf``);
- ``time limit``: stopped by the time limit; ``objective`` is the best point found (``−inf``
  if none), ``bound`` the dual bound reached so far (``+inf`` if none);
- ``cutoff``: stopped early because the sign of ``optimum − objective_cutoff`` is known: a
  point with ``objective ≥ cutoff + margin`` was found, or ``bound < cutoff − margin``;
- ``interrupted`` / ``other``: anything else (user interrupt, numerical trouble, iteration
  limits); read ``message``.

``bound`` is always a valid upper bound on the maximum as far as the solver's tolerances go
(``+inf`` when the solver proved nothing).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from labelrobust.errors import ConfigError
from labelrobust.registry import Registry
from labelrobust.validation import integer, number

OPTIMAL = "optimal"
INFEASIBLE = "infeasible"
TIME_LIMIT = "time limit"
CUTOFF = "cutoff"
INTERRUPTED = "interrupted"
OTHER = "other"
STATUSES = (OPTIMAL, INFEASIBLE, TIME_LIMIT, CUTOFF, INTERRUPTED, OTHER)

SOLVERS: Registry = Registry("MILP solver")


@dataclass(frozen=True, eq=False)
class SolveResult:
    """What one solve found (for a maximisation).

    ``objective``: the best primal value (``−inf`` without a feasible point); ``bound``: the
    solver's dual (upper) bound on the maximum; ``values``: the primal point (all variables),
    or None; ``time``: seconds; ``nodes``: branch-and-bound nodes; ``message``: the
    backend's own status text.
    """

    status: str
    objective: float
    bound: float
    values: np.ndarray | None
    time: float
    nodes: int = 0
    message: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"solver status must be one of {STATUSES}, got {self.status!r}")


@dataclass(frozen=True, eq=False)
class Objective:
    """``c·v + offset`` over the variables ``indices`` (coefficients aligned with them)."""

    indices: np.ndarray
    coefficients: np.ndarray
    offset: float = 0.0

    @staticmethod
    def of(indices: Sequence[int] | np.ndarray, coefficients: Sequence[float] | np.ndarray, offset: float = 0.0) -> Objective:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        coef = np.broadcast_to(np.asarray(coefficients, dtype=np.float64), idx.shape).copy()
        return Objective(idx, coef, float(offset))

    def value(self, values: np.ndarray) -> float:
        return float(values[self.indices] @ self.coefficients + self.offset)


@dataclass(eq=False)
class _RowBlock:
    """Rows ``start … start+m−1``: a CSR matrix (m × variables at the time) and its bounds."""

    start: int
    matrix: sp.csr_matrix
    lower: np.ndarray
    upper: np.ndarray


@dataclass(eq=False)
class Model:
    """The MILP being built: variables with bounds, binaries, sparse rows, an objective."""

    col_lower: np.ndarray = field(default_factory=lambda: np.zeros(0))
    col_upper: np.ndarray = field(default_factory=lambda: np.zeros(0))
    is_binary: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    objective: Objective = field(default_factory=lambda: Objective.of([], []))
    blocks: list[_RowBlock] = field(default_factory=list)
    bound_changes: list[np.ndarray] = field(default_factory=list)
    """Indices whose bounds ``set_bounds`` changed, in order (sessions replay the new ones)."""

    @property
    def num_variables(self) -> int:
        return len(self.col_lower)

    @property
    def num_rows(self) -> int:
        return self.blocks[-1].start + self.blocks[-1].matrix.shape[0] if self.blocks else 0

    @property
    def num_nonzeros(self) -> int:
        return sum(block.matrix.nnz for block in self.blocks)

    @property
    def binaries(self) -> np.ndarray:
        return np.flatnonzero(self.is_binary)

    def add_variables(self, n: int, lower: float | np.ndarray = -math.inf, upper: float | np.ndarray = math.inf, *, binary: bool = False) -> np.ndarray:
        """``n`` new variables (indices returned); a binary has bounds [0, 1]."""
        n = integer(n, "number of new variables", low=0)
        lo = np.zeros(n) if binary else np.broadcast_to(np.asarray(lower, dtype=np.float64), (n,))
        hi = np.ones(n) if binary else np.broadcast_to(np.asarray(upper, dtype=np.float64), (n,))
        if np.isnan(lo).any() or np.isnan(hi).any() or (lo > hi).any():
            raise ConfigError("variable bounds must be numbers with lower ≤ upper")
        first = self.num_variables
        self.col_lower = np.concatenate([self.col_lower, lo])
        self.col_upper = np.concatenate([self.col_upper, hi])
        self.is_binary = np.concatenate([self.is_binary, np.full(n, binary)])
        return np.arange(first, first + n, dtype=np.int64)

    def add_binaries(self, n: int) -> np.ndarray:
        return self.add_variables(n, binary=True)

    def add_rows(self, terms: Sequence[tuple[sp.spmatrix | np.ndarray, np.ndarray | None]], lower: float | np.ndarray, upper: float | np.ndarray) -> np.ndarray:
        """Rows ``lower ≤ Σ_b M_b · v[cols_b] ≤ upper`` for blocks ``terms = [(M_b, cols_b), …]``.

        Every ``M_b`` has the same number of rows m; column k of ``M_b`` multiplies variable
        ``cols_b[k]`` (``cols_b = None``: variable k itself). Returns the new row indices.
        """
        m = _block_rows(terms)
        coo = [self._remap(matrix, cols, m) for matrix, cols in terms]
        rows = np.concatenate([c[0] for c in coo]) if coo else np.zeros(0, np.int64)
        cols = np.concatenate([c[1] for c in coo]) if coo else np.zeros(0, np.int64)
        vals = np.concatenate([c[2] for c in coo]) if coo else np.zeros(0)
        matrix = sp.csr_matrix((vals, (rows, cols)), shape=(m, self.num_variables))
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        lo = np.broadcast_to(np.asarray(lower, dtype=np.float64), (m,)).copy()
        hi = np.broadcast_to(np.asarray(upper, dtype=np.float64), (m,)).copy()
        if np.isnan(lo).any() or np.isnan(hi).any() or not np.isfinite(vals).all():
            raise ConfigError("constraint rows must have finite coefficients and non-NaN bounds")
        start = self.num_rows
        if m:
            self.blocks.append(_RowBlock(start, matrix, lo, hi))
        return np.arange(start, start + m, dtype=np.int64)

    def _remap(self, matrix: sp.spmatrix | np.ndarray, cols: np.ndarray | None, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        block = sp.coo_matrix(matrix)
        if cols is None:  # the block's columns are the model's variables themselves
            if block.shape[0] != m or block.shape[1] > self.num_variables:
                raise ConfigError(f"a row block of shape {block.shape} does not match {m} rows over at most {self.num_variables} variables")
            return block.row.astype(np.int64), block.col.astype(np.int64), block.data.astype(np.float64)
        cols = np.asarray(cols, dtype=np.int64).reshape(-1)
        if block.shape != (m, len(cols)):
            raise ConfigError(f"a row block of shape {block.shape} does not match {m} rows and {len(cols)} variables")
        if len(cols) and (cols.min() < 0 or cols.max() >= self.num_variables):
            raise ConfigError(f"a row block refers to variables outside 0..{self.num_variables - 1}")
        return block.row.astype(np.int64), cols[block.col], block.data.astype(np.float64)

    def set_bounds(self, indices: np.ndarray, lower: np.ndarray | float, upper: np.ndarray | float) -> None:
        """New bounds for existing variables (sessions push them on their next ``sync``)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        lo = np.broadcast_to(np.asarray(lower, dtype=np.float64), idx.shape)
        hi = np.broadcast_to(np.asarray(upper, dtype=np.float64), idx.shape)
        if (lo > hi).any():
            raise ConfigError("variable bounds must have lower ≤ upper")
        self.col_lower[idx] = lo
        self.col_upper[idx] = hi
        self.bound_changes.append(idx.copy())

    def set_objective(self, indices: Sequence[int] | np.ndarray, coefficients: Sequence[float] | np.ndarray, offset: float = 0.0) -> None:
        """The objective to *maximise*: ``Σ coefficients · v[indices] + offset``."""
        self.objective = Objective.of(indices, coefficients, offset)

    def matrix(self) -> sp.csr_matrix:
        """All rows as one CSR matrix (rows × variables)."""
        n = self.num_variables
        parts = [sp.csr_matrix((b.matrix.data, b.matrix.indices, b.matrix.indptr), shape=(b.matrix.shape[0], n)) for b in self.blocks]
        return sp.vstack(parts, format="csr") if parts else sp.csr_matrix((0, n))

    def row_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.blocks:
            return np.zeros(0), np.zeros(0)
        return np.concatenate([b.lower for b in self.blocks]), np.concatenate([b.upper for b in self.blocks])

    def violation(self, values: np.ndarray) -> float:
        """The largest violation of a row, a bound or integrality by ``values`` (for tests)."""
        lo, hi = self.row_bounds()
        activity = self.matrix() @ values
        rows = max(float(np.max(lo - activity, initial=0.0)), float(np.max(activity - hi, initial=0.0)))
        cols = max(float(np.max(self.col_lower - values, initial=0.0)), float(np.max(values - self.col_upper, initial=0.0)))
        b = values[self.is_binary]
        return max(rows, cols, float(np.max(np.minimum(np.abs(b), np.abs(b - 1)), initial=0.0)))


def _block_rows(terms: Sequence[tuple]) -> int:
    if not terms:
        raise ConfigError("add_rows needs at least one (matrix, columns) block")
    counts = {np.shape(matrix)[0] for matrix, _ in terms}
    if len(counts) != 1:
        raise ConfigError(f"the row blocks of one add_rows call have different numbers of rows: {sorted(counts)}")
    return counts.pop()


@dataclass(frozen=True)
class SolveOptions:
    """Per-solve settings.

    ``timeout``: seconds (finite, > 0); ``relax``: solve the LP relaxation (binaries in
    [0, 1]); ``objective_cutoff``: stop as soon as the optimum is known to be ≥ or < this
    value (``None``: solve to optimality); ``cutoff_margin``: how far past the cutoff the
    primal value or the dual bound must be before stopping (so that a caller's tolerance test
    on the result holds); ``rel_gap``/``abs_gap``: optimality gap tolerances.
    """

    timeout: float
    relax: bool = False
    objective_cutoff: float | None = None
    cutoff_margin: float = 1e-5
    rel_gap: float = 1e-6
    abs_gap: float = 1e-7

    def __post_init__(self) -> None:
        number(self.timeout, "solver timeout", low=0.0, low_open=True)
        number(self.objective_cutoff, "objective_cutoff", allow_none=True)
        number(self.cutoff_margin, "cutoff_margin", low=0.0)
        number(self.rel_gap, "rel_gap", low=0.0)
        number(self.abs_gap, "abs_gap", low=0.0)


class Session(ABC):
    """One model loaded into one solver. Subclasses: ``sync`` and ``solve``."""

    def __init__(self, model: Model, *, threads: int = 1) -> None:
        self.model = model
        self.threads = integer(threads, "solver threads", low=1)

    @abstractmethod
    def sync(self) -> None:
        """Push the model's columns, rows and bound changes added since the last sync."""

    @abstractmethod
    def solve(self, options: SolveOptions, objective: Objective | None = None) -> SolveResult:
        """Maximise ``objective`` (default: the model's) under ``options``; syncs first."""


def open_session(model: Model, solver: str = "highs", *, threads: int = 1) -> Session:
    """A session of the registered backend ``solver`` with ``model`` loaded."""
    return SOLVERS.get(solver)(model, threads=threads)


def solve(model: Model, solver: str = "highs", *, timeout: float, threads: int = 1, objective_cutoff: float | None = None, relax: bool = False) -> SolveResult:
    """Maximise the model's objective once with backend ``solver``."""
    options = SolveOptions(timeout=timeout, relax=relax, objective_cutoff=objective_cutoff)
    return open_session(model, solver, threads=threads).solve(options)


def available_solvers() -> list[str]:
    return SOLVERS.available()
