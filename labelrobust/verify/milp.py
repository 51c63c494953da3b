"""Exact verification by mixed-integer linear programming (MIPVerify: Tjeng, Xiao & Tedrake,
"Evaluating robustness of neural networks with mixed integer programming", ICLR 2019).

``solve_milp`` computes ``max_{x ∈ S} m(f(x))`` for an input box ``S``, a ReLU/max-pool
network ``f`` and a property margin ``m(y) = max_i min_j (C_i y + d_i)_j`` (robust ⇔ max < 0)
as one MILP on a backend of ``labelrobust.verify.solvers`` (HiGHS by default). Every unit of
every layer input is, in the model, a **variable**, a **constant** (folded into the next
layer's right-hand side) or **absent** (nothing downstream reads it), decided from the sparsity
of the weights and from the pre-activation bounds ``Bounds`` (index i = input of layer i):

- **inputs**: free inputs (``lower < upper``) are variables with the box as bounds; fixed
  inputs (the pixels outside a layered neighbourhood) are constants.
- **affine layers** ``z = W h + b``: one variable per needed, non-constant unit and one
  equality row ``W_r h − z_r = −b_r`` built from ``layer.matrix()`` restricted to the needed
  rows, with the constant inputs folded into the right-hand side (a row that reads only
  constants is itself a constant, computed exactly). Equalities rather than substitution: each
  weight appears once (substituting ``z`` into the two ReLU rows that read it would double a
  convolution's nonzeros, and substituting through a stable ReLU would multiply two weight
  matrices into a dense one), ``z`` carries its bounds as column bounds, and it is the variable
  the tightening LPs optimise. HiGHS's presolve eliminates what is cheaper to eliminate.
- **ReLU** ``y = max(z, 0)`` with ``l ≤ z ≤ u``: ``u ≤ 0`` → the constant 0; ``l ≥ 0`` → ``y``
  is ``z`` itself; otherwise one binary ``a`` and ``y ≥ z, y ≥ 0, y ≤ z − l(1 − a), y ≤ u·a``
  (exact: ``a = 1`` forces ``y = z ≥ 0``, ``a = 0`` forces ``y = 0 ≥ z``).
- **max-pool** ``y = max_{j ∈ w} x_j``: inputs whose upper bound is below the largest lower
  bound in the window can never be the max and are dropped; a single survivor *is* the output
  (no variable). Otherwise one binary ``a_j`` per survivor, ``Σ a_j = 1``, ``y ≥ x_j`` and
  ``y ≤ x_j + (u_{¬j} − l_j)(1 − a_j)`` with ``u_{¬j}`` the largest upper bound among the
  *other* survivors (valid: if ``a_j = 0`` then ``y = x_k ≤ u_k`` for some ``k ≠ j``), and
  ``l_max ≤ y ≤ u_max`` as column bounds. Of several constant inputs only the largest is kept.
  Two valid rows per window strengthen the LP relaxation without binaries: ``y ≤ Σ_j u_j a_j``
  and ``y ≤ l_max + Σ_j (x_j − l_j)`` (the max exceeds ``l_max`` by at most the sum of the
  inputs' excesses over their lower bounds).
- **ReLU followed by max-pool** (the study's network): the ReLU's output is read by the pool
  alone, and ``max_j relu(z_j) = max(0, max_j z_j)``, so the pair is one max over the
  pre-activations plus the constant 0: an unstable unit then costs no ReLU binary of its own
  (an inactive one, ``u ≤ 0``, can never beat the 0 and is dropped). On the tiny test network
  this removed ~25 % of the binaries.
- **objective**: a variable ``t`` with ``t ≤ (C y + d)_j`` for every row of a single clause;
  for several clauses one binary ``z_i`` per clause, ``Σ z_i = 1``, ``t ≤ (C_i y + d_i)_j +
  M_ij (1 − z_i)`` with ``M_ij = T_u − L_ij`` (``T_u`` the largest clause upper bound, ``L_ij``
  the row's lower bound over the output box). ``T_l ≤ t ≤ T_u`` where ``T_l = max_i min_j
  L_ij`` (every point has a margin ≥ T_l); a clause whose upper bound is below ``T_l`` can
  never be the max and is dropped.
- **top-2, selection encoding** (``kind == "top2"``, target t, others O): the margin is
  ``s − y_t`` with ``s`` the 2nd-highest of ``y_O``. For every point,
  ``2nd-highest(y_O) = max over pairs P ⊂ O of min_{j ∈ P} y_j`` (the best pair is the top
  two). So: one binary ``c_j`` per class of O, ``Σ c_j = 2`` (choose a pair), ``s ≤ y_j +
  M_j (1 − c_j)`` with ``M_j = S_u^{¬j} − l_j``, where ``S_u^{¬j}`` is the 2nd-highest upper
  bound over ``O ∖ {j}`` (with ``c_j = 0`` the pair avoids j), and ``S_l ≤ s ≤ S_u`` with
  ``S_l``/``S_u`` the 2nd-highest lower / upper bounds over O (order statistics are monotone).
  Maximising
  picks the top pair and ``s`` equals its minimum — exact, with ``|O|`` binaries and rows
  instead of the pairwise disjunction's ``C(|O|, 2)`` clauses of two rows. A class with
  ``u_j < S_l`` is never in the top two (two classes always beat it) and gets no binary.
  ``top2_encoding="pairwise"`` uses the property's clauses as above.

**Per-layer tightening** (``tighten="lp"``/``"milp"``): before a ReLU layer's encoding, each
candidate unit ``z_u`` is maximised and then minimised over the model built so far — the LP
relaxation (binaries in [0, 1]: the ReLU triangle relaxation) or the MILP with a per-unit
time limit, whose dual bound is used — and its bounds shrink to the results (plus a slack of
``TIGHTEN_SLACK·(1 + |value|)`` for the solver's tolerances; a solve that does not finish
changes nothing). Candidates: the unstable units (``l < 0 < u``), most ambiguous (largest
``min(−l, u)``) first; before a fused ReLU + max-pool, the entries of windows that still need
binaries, those closest to being dominated first. A unit whose new ``u ≤ 0`` or ``l ≥ 0`` is
stabilised, a dominated pool entry dropped: each saves a binary. Skipped where it cannot pay
(the reason is recorded per layer): the first nonlinear layer after a single affine map of
the box (interval bounds are exact there), layers with fewer than ``min_unstable``
candidates, models of ``TIGHTEN_MAX_ROWS`` rows or more (see there), and once the tightening
share of the time budget is spent. With several output clauses the outputs the property reads
are tightened too (the objective's big-Ms come from them). After each layer the improved
bounds are pushed forward by interval arithmetic and intersected with the given ones.

``solve_milp`` returns the solver's best margin (``objective``), its dual bound (``bound``,
``−inf`` if infeasible, and never above the encoding's own bound ``T_u``) and the maximiser
over the whole input (``point``); the caller decides robust (bound < 0), re-checks the point
in float64, and treats a time limit as unknown.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from labelrobust.errors import ConfigError
from labelrobust.validation import integer, number, one_of
from labelrobust.verify.input_sets import InputSet
from labelrobust.verify.network import AFFINE, Layer, MaxPool, Network, ReLU, check_query_parts
from labelrobust.verify.properties import OutputProperty
from labelrobust.verify.solvers import SOLVERS, TIME_LIMIT, Model, Objective, Session, SolveOptions, open_session

TOP2_ENCODINGS = ("selection", "pairwise")
TIGHTENINGS = ("none", "lp", "milp")
TIGHTEN_SLACK = 1e-6
"""Relative slack added to every tightened bound (LP/MILP values carry solver tolerances)."""
TIGHTEN_MAX_ROWS = 5000
"""Layers are tightened only while the model has fewer rows. Measured on the study's network
(``multilabel-cnn`` 28×56, 16/32 channels, loaded 2-core machine): at 20–75k rows one
warm-started tightening LP took 1–7 s and the cold one 7–30 s (interior point), so a 30 s
budget tightened ~1–10 % of the candidates and removed < 1 % of the binaries, while the same
time given to the final MILP let its root LP prove robustness; below ~5k rows an LP takes
milliseconds."""
CONSTANT = -1
ABSENT = -2
DTYPE = torch.float64


@dataclass(frozen=True, eq=False)
class MilpResult:
    """``status``: the solver's normalised status (``optimal``, ``cutoff``, ``time limit``,
    ``infeasible``, ``interrupted``, ``other``); ``objective``: the best margin found (−inf
    without a point); ``bound``: a dual upper bound on the maximum margin; ``point``: the
    maximiser over the whole input (flat float64, fixed inputs at their values) or None;
    ``time``: seconds in all; ``details``: sizes, counts and the tightening record."""

    status: str
    objective: float
    bound: float
    point: Tensor | None
    time: float
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Settings:
    timeout: float
    solver: str
    top2_encoding: str
    tighten: str
    threads: int
    objective_cutoff: float | None
    tighten_share: float
    unit_timeout: float
    min_unstable: int
    start: float = field(default_factory=time.perf_counter)

    def left(self) -> float:
        return self.timeout - (time.perf_counter() - self.start)

    def tighten_left(self) -> float:
        return self.tighten_share * self.timeout - (time.perf_counter() - self.start)


@dataclass(eq=False)
class _Values:
    """One layer input as the model sees it: per unit a variable index (≥ 0), ``CONSTANT``
    (value in ``const``) or ``ABSENT``; ``lower``/``upper`` are the working bounds."""

    index: np.ndarray
    const: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @property
    def variables(self) -> np.ndarray:
        return self.index >= 0


def solve_milp(
    network: Network,
    input_set: InputSet,
    prop: OutputProperty,
    bounds,
    *,
    timeout: float,
    solver: str = "highs",
    top2_encoding: str = "selection",
    tighten: str = "lp",
    threads: int = 1,
    objective_cutoff: float | None = 0.0,
    tighten_share: float = 0.5,
    unit_timeout: float = 2.0,
    min_unstable: int = 8,
) -> MilpResult:
    """``max_{x ∈ input_set} prop.margin(network(x))`` as a MILP (see the module docstring).

    ``bounds``: sound bounds on every layer input (``labelrobust.verify.bounds.Bounds``).
    ``timeout``: seconds for tightening and solving together. ``objective_cutoff``: stop as
    soon as the sign of ``max − cutoff`` is known (default 0, the robustness question);
    ``None`` solves to optimality. ``tighten_share``: the part of ``timeout`` tightening may
    use; ``unit_timeout``: seconds per tightening solve; ``min_unstable``: the fewest unstable
    units for which a layer is tightened.
    """
    _check_query(network, input_set, prop, bounds)
    settings = _settings(
        timeout=timeout, solver=solver, top2_encoding=top2_encoding, tighten=tighten, threads=threads, objective_cutoff=objective_cutoff,
        tighten_share=tighten_share, unit_timeout=unit_timeout, min_unstable=min_unstable,
    )
    encoder = _Encoder(network, input_set, prop, bounds, settings)
    encoder.encode()
    return encoder.solve()


# -- checks ---------------------------------------------------------------------------------------


def _check_query(network, input_set, prop, bounds) -> None:
    check_query_parts("solve_milp", network, input_set, prop)
    _check_bounds(network, input_set, bounds)


def _settings(*, timeout, solver, top2_encoding, tighten, threads, objective_cutoff, tighten_share, unit_timeout, min_unstable) -> _Settings:
    SOLVERS.get(solver)  # an unknown backend fails here, before any encoding
    return _Settings(
        timeout=number(timeout, "solve_milp: timeout", low=0.0, low_open=True),
        solver=solver, top2_encoding=one_of(top2_encoding, TOP2_ENCODINGS, "solve_milp: top2_encoding"),
        tighten=one_of(tighten, TIGHTENINGS, "solve_milp: tighten"), threads=integer(threads, "solve_milp: threads", low=1),
        objective_cutoff=number(objective_cutoff, "solve_milp: objective_cutoff", allow_none=True),
        tighten_share=number(tighten_share, "solve_milp: tighten_share", low=0.0, high=1.0),
        unit_timeout=number(unit_timeout, "solve_milp: unit_timeout", low=0.0, low_open=True),
        min_unstable=integer(min_unstable, "solve_milp: min_unstable", low=1),
    )


def _check_bounds(network: Network, input_set: InputSet, bounds) -> None:
    lower, upper = getattr(bounds, "lower", None), getattr(bounds, "upper", None)
    sizes = [layer.in_size for layer in network.layers] + [network.num_outputs]
    if not isinstance(lower, (list, tuple)) or not isinstance(upper, (list, tuple)) or len(lower) != len(sizes) or len(upper) != len(sizes):
        raise ConfigError(f"solve_milp needs Bounds with {len(sizes)} lower and upper vectors (every layer input plus the outputs), got {type(bounds).__name__}")
    for i, (lo, hi, size) in enumerate(zip(lower, upper, sizes)):
        if not isinstance(lo, Tensor) or not isinstance(hi, Tensor) or lo.shape != (size,) or hi.shape != (size,):
            raise ConfigError(f"bounds of layer input {i} must be two flat tensors of {size} values")
        if not (torch.isfinite(lo).all() and torch.isfinite(hi).all()):
            raise ConfigError(f"bounds of layer input {i} contain NaN or inf; the MILP's big-M constants need finite bounds")
        if (lo > hi).any():
            raise ConfigError(f"bounds of layer input {i} have lower > upper")
    if (lower[0] > input_set.lower).any() or (upper[0] < input_set.upper).any():
        raise ConfigError("the bounds were computed for a smaller input set than the one given (their input box does not contain it); compute them for this input set")


# -- the encoder ------------------------------------------------------------------------------------


class _Encoder:
    """Builds the model layer by layer (tightening on the way) and solves it."""

    def __init__(self, network: Network, input_set: InputSet, prop: OutputProperty, bounds, settings: _Settings) -> None:
        self.network, self.input_set, self.prop, self.settings = network, input_set, prop, settings
        self.model = Model()
        self.session: Session | None = None
        self.lower = [b.detach().to("cpu", DTYPE).numpy().copy() for b in bounds.lower]
        self.upper = [b.detach().to("cpu", DTYPE).numpy().copy() for b in bounds.upper]
        self.lower[0] = np.maximum(self.lower[0], input_set.lower.numpy())
        self.upper[0] = np.minimum(self.upper[0], input_set.upper.numpy())
        self._matrices: dict[int, sp.csr_matrix] = {}
        self.needed = _needed(network, prop, self.lower, self.upper, self.matrix)
        self.inputs: _Values | None = None
        self.margin_bounds = (-math.inf, math.inf)
        self.details: dict = {"unstable_before": [], "unstable": [], "relu_binaries": 0, "maxpool_binaries": 0, "objective_binaries": 0}
        self.tightening = {"method": settings.tighten, "solves": 0, "tightened": 0, "stabilised": 0, "time": 0.0, "layers": []}

    def matrix(self, i: int) -> sp.csr_matrix:
        if i not in self._matrices:
            self._matrices[i] = sp.csr_matrix(self.network.layers[i].matrix())
        return self._matrices[i]

    # -- building ---------------------------------------------------------------------------

    def encode(self) -> None:
        values = self._inputs()
        self.inputs = values
        layers = self.network.layers
        nonlinear_before = False
        i = 0
        while i < len(layers):
            layer = layers[i]
            fused = isinstance(layer, ReLU) and i + 1 < len(layers) and isinstance(layers[i + 1], MaxPool)
            if isinstance(layer, ReLU):
                self.details["unstable_before"].append(len(_unstable(values)))
                if self._tightenable(i, nonlinear_before):
                    self._tighten(i, values, *(_pool_candidates(layers[i + 1], values) if fused else _relu_candidates(values)))
            if fused:
                values = self._relu_maxpool(i, layers[i + 1], values)
                i += 1
            elif isinstance(layer, ReLU):
                values = self._relu(i, values)
            elif isinstance(layer, MaxPool):
                values = self._maxpool(i, layer, values)
            else:
                values = self._affine(i, layer, values)
            nonlinear_before = nonlinear_before or not isinstance(layer, AFFINE)
            i += 1
        self._objective(values, nonlinear_before)
        self._matrices.clear()

    def _inputs(self) -> _Values:
        lo, hi = self.input_set.lower.numpy().copy(), self.input_set.upper.numpy().copy()
        free = lo < hi
        index = np.full(lo.shape, CONSTANT, dtype=np.int64)
        index[free] = self.model.add_variables(int(free.sum()), lo[free], hi[free])
        const = np.where(free, 0.0, lo)
        self.lower[0], self.upper[0] = lo, hi
        return _Values(index, const, lo, hi)

    def _refine(self, i: int, layer: Layer, values: _Values) -> None:
        """Intersect the bounds of layer i's output with interval arithmetic on its input."""
        lo, hi = _interval_step(layer, values.lower, values.upper)
        self.lower[i + 1], self.upper[i + 1] = _intersect(self.lower[i + 1], self.upper[i + 1], lo, hi)

    def _output(self, i: int, size: int) -> _Values:
        """Layer i's output, all units absent so far; its bounds *are* the working bounds."""
        return _Values(np.full(size, ABSENT, dtype=np.int64), np.zeros(size), self.lower[i + 1], self.upper[i + 1])

    def _affine(self, i: int, layer: Layer, values: _Values) -> _Values:
        self._refine(i, layer, values)
        rows = np.flatnonzero(self.needed[i + 1])
        w = self.matrix(i)[rows]
        row_of = np.repeat(np.arange(len(rows)), np.diff(w.indptr))
        idx = values.index[w.indices]
        if ((idx == ABSENT) & (w.data != 0)).any():
            raise RuntimeError(f"internal error: layer {i} reads a unit the encoding left out")
        is_var, is_const = idx >= 0, idx == CONSTANT
        bias = layer.bias.detach().to("cpu", DTYPE).numpy()[rows]
        offset = bias + np.bincount(row_of[is_const], w.data[is_const] * values.const[w.indices[is_const]], minlength=len(rows))
        has_var = np.bincount(row_of[is_var], minlength=len(rows)) > 0
        out = self._output(i, layer.out_size)
        fixed = rows[~has_var]
        out.index[fixed], out.const[fixed] = CONSTANT, offset[~has_var]
        out.lower[fixed] = out.upper[fixed] = offset[~has_var]
        live = rows[has_var]
        z = self.model.add_variables(len(live), out.lower[live], out.upper[live])
        out.index[live] = z
        position = np.cumsum(has_var) - 1
        a = sp.csr_matrix((w.data[is_var], (position[row_of[is_var]], idx[is_var])), shape=(len(live), self.model.num_variables))
        self.model.add_rows([(a, None), (-sp.identity(len(live), format="csr"), z)], -offset[has_var], -offset[has_var])
        return out

    def _relu(self, i: int, values: _Values) -> _Values:
        lo, hi = values.lower, values.upper
        var = values.variables
        self.lower[i + 1], self.upper[i + 1] = _intersect(self.lower[i + 1], self.upper[i + 1], np.maximum(lo, 0.0), np.maximum(hi, 0.0))
        out = self._output(i, len(lo))
        const = values.index == CONSTANT
        out.index[const], out.const[const] = CONSTANT, np.maximum(values.const[const], 0.0)
        inactive = (hi <= 0) & ~const
        out.index[inactive], out.const[inactive] = CONSTANT, 0.0
        active = var & (lo >= 0)
        out.index[active] = values.index[active]
        unstable = var & (lo < 0) & (hi > 0)
        self.details["unstable"].append(int(unstable.sum()))
        out.index[unstable] = self._relu_rows(values.index[unstable], lo[unstable], hi[unstable])
        return out

    def _relu_rows(self, z: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """``y ≥ z``, ``y − z − l·a ≤ −l``, ``y − u·a ≤ 0`` (``y ≥ 0``, ``y ≤ u`` as bounds)."""
        k = len(z)
        y = self.model.add_variables(k, 0.0, hi)
        a = self.model.add_binaries(k)
        self.details["relu_binaries"] += k
        eye, zero = sp.identity(k, format="csr"), sp.csr_matrix((k, k))
        terms = [
            (sp.vstack([eye, eye, eye]), y),
            (sp.vstack([-eye, -eye, zero]), z),
            (sp.vstack([zero, sp.diags(-lo), sp.diags(-hi)]), a),
        ]
        lower = np.concatenate([np.zeros(k), np.full(2 * k, -math.inf)])
        upper = np.concatenate([np.full(k, math.inf), -lo, np.zeros(k)])
        self.model.add_rows(terms, lower, upper)
        return y

    def _maxpool(self, i: int, layer: MaxPool, values: _Values) -> _Values:
        self._refine(i, layer, values)
        return self._pool(i, layer, values, relu_first=False)

    def _relu_maxpool(self, i: int, layer: MaxPool, values: _Values) -> _Values:
        """ReLU i then max-pool i+1 as one max, ``max_j relu(z_j) = max(0, max_j z_j)``: the
        window's candidates are its pre-activations plus the constant 0, so an unstable unit
        costs no ReLU binary of its own (the ReLU's output is read by the pool alone)."""
        lo, hi = np.maximum(values.lower, 0.0), np.maximum(values.upper, 0.0)
        self.lower[i + 1], self.upper[i + 1] = _intersect(self.lower[i + 1], self.upper[i + 1], lo, hi)
        self.details["unstable"].append(len(_unstable(values)))
        out_lo, out_hi = _interval_step(layer, self.lower[i + 1], self.upper[i + 1])
        self.lower[i + 2], self.upper[i + 2] = _intersect(self.lower[i + 2], self.upper[i + 2], out_lo, out_hi)
        return self._pool(i + 1, layer, values, relu_first=True)

    def _pool(self, i: int, layer: MaxPool, values: _Values, relu_first: bool) -> _Values:
        """Layer i's max-pool of ``values`` (of ``relu(values)`` if ``relu_first``)."""
        out = self._output(i, layer.out_size)
        rows = np.flatnonzero(self.needed[i + 1])
        win = _PoolWindows(layer.windows.numpy()[rows], values, relu_first)
        kind = win.kinds()
        single = rows[kind == 1]
        pick = win.first_kept()[kind == 1]
        out.index[single], out.const[single] = win.idx[kind == 1, pick], win.cval[kind == 1, pick]
        consts = rows[kind == 2]
        out.index[consts], out.const[consts] = CONSTANT, win.const_max()[kind == 2]
        general = kind == 3
        out.index[rows[general]] = self._pool_rows(win, general)
        out.lower[rows], out.upper[rows] = _intersect(out.lower[rows], out.upper[rows], win.lmax, win.umax)
        fixed = out.index == CONSTANT
        out.lower[fixed] = out.upper[fixed] = out.const[fixed]
        return out

    def _pool_rows(self, win: _PoolWindows, general: np.ndarray) -> np.ndarray:
        """MIPVerify's max: ``y ≥ x_j``, ``y ≤ x_j + M_j(1 − a_j)``, ``Σ a_j = 1`` per window."""
        n = int(general.sum())
        y = self.model.add_variables(n, win.lmax[general], win.umax[general])
        keep = win.keep[general]
        r, j = np.nonzero(keep)
        a = self.model.add_binaries(len(r))
        self.details["maxpool_binaries"] += len(r)
        big_m = np.maximum(win.other_max()[general][r, j] - win.l[general][r, j], 0.0)
        xi, xc = win.idx[general][r, j], win.cval[general][r, j]
        is_var = xi >= 0
        m = len(r)
        entry = sp.csr_matrix((np.ones(m), (np.arange(m), r)), shape=(m, n))
        x = sp.csr_matrix((np.ones(is_var.sum()), (np.flatnonzero(is_var), xi[is_var])), shape=(m, self.model.num_variables))
        upper_rows = [(entry, y), (-x, None), (sp.diags(big_m), a)]
        self.model.add_rows(upper_rows, -math.inf, big_m + np.where(is_var, 0.0, xc))
        lower_rows = np.flatnonzero(is_var)  # y ≥ c for a constant c is the bound y ≥ l_max
        self.model.add_rows([(entry[lower_rows], y), (-x[lower_rows], None)], 0.0, math.inf)
        pick = sp.csr_matrix((np.ones(m), (r, np.arange(m))), shape=(n, m))
        self.model.add_rows([(pick, a)], 1.0, 1.0)
        self._pool_cuts(win, general, y, a, r, j, pick, x, is_var)
        return y

    def _pool_cuts(self, win, general, y, a, r, j, pick, x, is_var) -> None:
        """Two valid rows per window that tighten the LP relaxation (no new binaries):
        ``y ≤ Σ_j u_j a_j`` (the chosen input is at most its upper bound) and
        ``y ≤ l_max + Σ_j (x_j − l_j)`` (the max exceeds l_max by at most the sum of excesses)."""
        n = len(y)
        eye = sp.identity(n, format="csr")
        u, lo = win.u[general][r, j], win.l[general][r, j]
        self.model.add_rows([(eye, y), (-pick @ sp.diags(u), a)], -math.inf, 0.0)
        excess = pick @ sp.diags(is_var.astype(float))
        slack = win.lmax[general] - excess @ lo
        self.model.add_rows([(eye, y), (-(excess @ x), None)], -math.inf, slack)

    # -- the objective ------------------------------------------------------------------------

    def _objective(self, values: _Values, nonlinear: bool) -> None:
        selection = self.prop.kind == "top2" and self.settings.top2_encoding == "selection"
        if nonlinear and (selection or len(self.prop.clauses) > 1):
            n = len(self.network.layers)
            self._tighten(n, values, np.flatnonzero(values.variables & self.needed[n]), every_count=True)
        if selection:
            self._top2_selection(values)
        else:
            self._clauses(values)

    def _linear(self, values: _Values, c: np.ndarray, d: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
        """Rows ``C y + d`` as (matrix over the model's variables, offsets, lower, upper bounds)."""
        var, const = values.variables, values.index == CONSTANT
        if (np.abs(c[:, ~(var | const)]) > 0).any():
            raise RuntimeError("internal error: the property reads an output the encoding left out")
        offset = d + c[:, const] @ values.const[const]
        a = sp.csr_matrix(c[:, var]) @ sp.csr_matrix((np.ones(var.sum()), (np.arange(var.sum()), values.index[var])), shape=(int(var.sum()), self.model.num_variables))
        lo, hi = np.where(var, values.lower, values.const), np.where(var, values.upper, values.const)
        low = d + np.clip(c, 0, None) @ lo + np.clip(c, None, 0) @ hi
        high = d + np.clip(c, 0, None) @ hi + np.clip(c, None, 0) @ lo
        return sp.csr_matrix(a), offset, low, high

    def _bounded_by(self, t: int, a: sp.csr_matrix, offset: np.ndarray, big_m: np.ndarray | None = None, selectors: np.ndarray | None = None) -> None:
        """Rows ``t ≤ a·v + offset + M (1 − z)`` (without M, z: ``t ≤ a·v + offset``)."""
        m = a.shape[0]
        ones = sp.csr_matrix(np.ones((m, 1)))
        terms = [(ones, np.array([t])), (-a, None)]
        upper = offset.copy()
        if big_m is not None:
            terms.append((sp.diags(big_m), selectors))
            upper = upper + big_m
        self.model.add_rows(terms, -math.inf, upper)

    def _clauses(self, values: _Values) -> None:
        parts = [self._linear(values, cl.coefficients.numpy(), cl.offsets.numpy()) for cl in self.prop.clauses]
        lows = np.array([p[2].min() for p in parts])
        highs = np.array([p[3].min() for p in parts])
        t_low = float(lows.max())
        kept = np.flatnonzero(highs >= t_low)
        t_high = float(highs[kept].max())
        self.margin_bounds = (t_low, t_high)
        t = int(self.model.add_variables(1, t_low, t_high)[0])
        self.details["clauses"] = len(kept)
        if len(kept) == 1:
            a, offset, _, _ = parts[kept[0]]
            self._bounded_by(t, a, offset)
        else:
            z = self.model.add_binaries(len(kept))
            self.details["objective_binaries"] = len(kept)
            for zi, k in zip(z, kept):
                a, offset, low, _ = parts[k]
                self._bounded_by(t, a, offset, np.maximum(t_high - low, 0.0), np.full(a.shape[0], zi))
            self.model.add_rows([(sp.csr_matrix(np.ones((1, len(z)))), z)], 1.0, 1.0)
        self.model.set_objective([t], [1.0])

    def _top2_selection(self, values: _Values) -> None:
        target = self.prop.target
        k = self.prop.num_outputs
        others = np.array([j for j in range(k) if j != target])
        eye = np.eye(k)
        a, offset, low, high = self._linear(values, eye[others], np.zeros(len(others)))
        s_low, s_high = np.sort(low)[-2], np.sort(high)[-2]
        kept = np.flatnonzero(high >= s_low)
        s = int(self.model.add_variables(1, s_low, s_high)[0])
        self.details["top2_candidates"] = len(kept)
        if len(kept) == 2:
            self._bounded_by(s, a[kept], offset[kept])
        else:
            c = self.model.add_binaries(len(kept))
            self.details["objective_binaries"] = len(kept)
            # with c_j = 0 the chosen pair avoids j: s ≤ the 2nd-highest upper bound of the others
            ranked = np.sort(high[kept])[::-1]
            without = np.where(high[kept] >= ranked[1], ranked[2], ranked[1])
            self._bounded_by(s, a[kept], offset[kept], np.maximum(without - low[kept], 0.0), c)
            self.model.add_rows([(sp.csr_matrix(np.ones((1, len(c)))), c)], 2.0, 2.0)
        ta, t_offset, t_low, t_high = self._linear(values, eye[[target]], np.zeros(1))
        self.margin_bounds = (float(s_low - t_high[0]), float(s_high - t_low[0]))
        coef = -ta.toarray()[0]
        cols = np.flatnonzero(coef)
        self.model.set_objective(np.concatenate([[s], cols]), np.concatenate([[1.0], coef[cols]]), -float(t_offset[0]))

    # -- tightening ---------------------------------------------------------------------------

    def _tightenable(self, i: int, nonlinear_before: bool) -> bool:
        affine_before = sum(isinstance(layer, AFFINE) for layer in self.network.layers[:i])
        return nonlinear_before or affine_before > 1

    def _open(self) -> Session:
        if self.session is None:
            self.session = open_session(self.model, self.settings.solver, threads=self.settings.threads)
        return self.session

    def _tighten(self, i: int, values: _Values, units: np.ndarray, priority: np.ndarray | None = None, every_count: bool = False) -> None:
        """Maximise and minimise each unit over the model so far (smallest ``priority``
        first); shrink its bounds. ``every_count``: however few the units are."""
        s = self.settings
        if s.tighten == "none":
            return
        record = {"layer": i, "candidates": len(units), "tightened": 0, "stabilised": 0, "solves": 0, "time": 0.0}
        self.tightening["layers"].append(record)
        skip = _skip_reason(len(units), s.min_unstable, every_count, self.model.num_rows, s.tighten_left())
        if skip:
            record["skipped"] = skip
            return
        start = time.perf_counter()
        session = self._open()
        order = np.argsort(priority, kind="stable") if priority is not None else np.arange(len(units))
        for u in units[order]:
            if s.tighten_left() <= 0:
                break
            # the first solve after new rows starts cold: it may use the whole remaining budget
            self._tighten_unit(session, values, int(u), record, s.unit_timeout if record["solves"] else s.tighten_left())
        record["time"] = time.perf_counter() - start
        for key in ("solves", "tightened", "stabilised"):
            self.tightening[key] += record[key]
        self.tightening["time"] += record["time"]

    def _tighten_unit(self, session: Session, values: _Values, u: int, record: dict, budget: float) -> None:
        var = int(values.index[u])
        lo, hi = float(values.lower[u]), float(values.upper[u])
        was_unstable = lo < 0 < hi
        for sign in (1.0, -1.0):
            options = SolveOptions(timeout=max(min(budget, self.settings.tighten_left()), 1e-3), relax=self.settings.tighten == "lp")
            budget = self.settings.unit_timeout
            result = session.solve(options, Objective.of([var], [sign]))
            record["solves"] += 1
            if math.isfinite(result.bound):
                value = sign * result.bound
                slack = TIGHTEN_SLACK * (1 + abs(value))
                lo, hi = (lo, min(hi, value + slack)) if sign > 0 else (max(lo, value - slack), hi)
            if hi <= 0 or self.settings.tighten_left() <= 0:
                break
        lo = min(lo, hi)
        if (lo, hi) != (float(values.lower[u]), float(values.upper[u])):
            record["tightened"] += 1
            record["stabilised"] += int(was_unstable and not lo < 0 < hi)
            values.lower[u], values.upper[u] = lo, hi
            self.model.set_bounds([var], lo, hi)

    # -- solving ------------------------------------------------------------------------------

    def solve(self) -> MilpResult:
        s = self.settings
        self.details.update(self._sizes())
        self.details["encode_time"] = time.perf_counter() - s.start - self.tightening["time"]
        self.details["tightening"] = self.tightening
        t_low, t_high = self.margin_bounds
        if s.left() <= 0:
            return MilpResult(TIME_LIMIT, -math.inf, t_high, None, time.perf_counter() - s.start, self.details)
        session = self._open()
        result = session.solve(SolveOptions(timeout=s.left(), objective_cutoff=s.objective_cutoff))
        self.details.update(nodes=result.nodes, solver_status=result.message, solve_time=result.time)
        point = self._point(result.values) if result.values is not None else None
        bound = min(result.bound, t_high)
        return MilpResult(result.status, result.objective, bound, point, time.perf_counter() - s.start, self.details)

    def _point(self, values: np.ndarray) -> Tensor:
        x = self.inputs.const.copy()
        free = self.inputs.variables
        x[free] = np.clip(values[self.inputs.index[free]], self.inputs.lower[free], self.inputs.upper[free])
        return torch.from_numpy(x)

    def _sizes(self) -> dict:
        m = self.model
        return {
            "binaries": int(m.is_binary.sum()), "variables": m.num_variables, "constraints": m.num_rows,
            "nonzeros": m.num_nonzeros, "free_inputs": int(self.inputs.variables.sum()),
            "top2_encoding": self.settings.top2_encoding if self.prop.kind == "top2" else None,
        }


# -- helpers --------------------------------------------------------------------------------------




def _unstable(values: _Values) -> np.ndarray:
    return np.flatnonzero(values.variables & (values.lower < 0) & (values.upper > 0))


def _skip_reason(units: int, min_unstable: int, every_count: bool, rows: int, budget: float) -> str | None:
    """Why a layer is not tightened (None: tighten it)."""
    if units == 0 or (units < min_unstable and not every_count):
        return f"{units} candidate units (fewer than {min_unstable}): the MILP branches on them cheaply"
    if rows >= TIGHTEN_MAX_ROWS:
        return f"the model has {rows} rows (≥ {TIGHTEN_MAX_ROWS}): each LP costs seconds, the final MILP's root LP does better"
    if budget <= 0:
        return "the tightening share of the time budget is spent"
    return None


def _relu_candidates(values: _Values) -> tuple[np.ndarray, np.ndarray]:
    """The unstable units, most ambiguous (largest ``min(−l, u)``) first."""
    units = _unstable(values)
    return units, -np.minimum(-values.lower[units], values.upper[units])


def _pool_candidates(layer: MaxPool, values: _Values) -> tuple[np.ndarray, np.ndarray]:
    """Before a fused ReLU + max-pool: the variable entries of windows that still need
    binaries, first those whose upper bound is closest (relative to their width) to falling
    below the window's largest lower bound — there a tighter bound removes a binary."""
    win = _PoolWindows(layer.windows.numpy(), values, relu_first=True)
    open_rows = win.kinds() == 3
    entries = win.keep[open_rows] & (win.idx[open_rows] >= 0)
    r, j = np.nonzero(entries)
    units = layer.windows.numpy()[open_rows][r, j]
    width = values.upper[units] - values.lower[units]
    closeness = (values.upper[units] - win.lmax[open_rows][r]) / np.maximum(width, 1e-12)
    units, first = np.unique(units, return_index=True)
    return units, closeness[first]


def _intersect(l1: np.ndarray, u1: np.ndarray, l2: np.ndarray, u2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The intersection of two sound intervals. A crossing (round-off between two sound
    bounds) collapses to the smaller upper end, so upper bounds never grow: a unit the liveness
    pass found inactive (``u ≤ 0``) or dominated stays so."""
    upper = np.minimum(u1, u2)
    return np.minimum(np.maximum(l1, l2), upper), upper


def _interval_step(layer: Layer, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interval arithmetic through one layer (center/radius for affine maps), widened by 1e-12."""
    if isinstance(layer, ReLU):
        return np.maximum(lo, 0.0), np.maximum(hi, 0.0)
    l_t, h_t = torch.from_numpy(lo)[None], torch.from_numpy(hi)[None]
    if isinstance(layer, MaxPool):
        return layer.apply(l_t)[0].numpy(), layer.apply(h_t)[0].numpy()
    center = layer.apply((l_t + h_t) / 2)[0].numpy()
    radius = layer.apply_abs((h_t - l_t) / 2)[0].numpy()
    guard = 1e-12 * (1 + np.abs(center) + radius)
    return center - radius - guard, center + radius + guard


class _PoolWindows:
    """The needed windows of a max-pool: per entry its unit, bounds and whether it can win.

    With ``relu_first`` the entries are pre-activations of a ReLU and a constant-0 entry is
    appended to every window (``max_j relu(z_j) = max(0, max_j z_j)``); an inactive entry
    (``u ≤ 0``) can never beat that 0 and is dropped. Of several constant entries only the
    largest can win, so only the first largest is kept.
    """

    def __init__(self, windows: np.ndarray, values: _Values, relu_first: bool = False) -> None:
        valid = windows >= 0
        safe = np.where(valid, windows, 0)
        idx = np.where(valid, values.index[safe], ABSENT)
        valid &= idx != ABSENT  # left out by the liveness pass: dominated for sure
        cval, lo, hi = values.const[safe], values.lower[safe], values.upper[safe]
        if relu_first:
            valid &= ~((idx >= 0) & (hi <= 0))
            cval = np.maximum(cval, 0.0)
            column = np.ones((len(windows), 1))
            valid, idx = np.hstack([valid, column > 0]), np.hstack([idx, np.full((len(windows), 1), CONSTANT)])
            cval, lo, hi = np.hstack([cval, 0 * column]), np.hstack([lo, 0 * column]), np.hstack([hi, 0 * column])
        const = valid & (idx == CONSTANT)
        lo, hi = np.where(const, cval, lo), np.where(const, cval, hi)
        self.idx, self.cval = idx, np.where(valid, cval, 0.0)
        self.l = np.where(valid, lo, -math.inf)
        self.u = np.where(valid, hi, -math.inf)
        self.lmax = self.l.max(axis=1)
        self.keep = valid & (self.u >= self.lmax[:, None])
        self.keep &= ~const | (np.arange(idx.shape[1]) == np.where(const, self.cval, -math.inf).argmax(axis=1)[:, None])
        self.umax = np.where(self.keep, self.u, -math.inf).max(axis=1)
        if (self.keep.sum(axis=1) == 0).any():
            raise RuntimeError("internal error: a max-pool window without a candidate")

    def kinds(self) -> np.ndarray:
        """1: a single survivor; 2: only constants survive; 3: needs binaries."""
        count = self.keep.sum(axis=1)
        any_var = (self.keep & (self.idx >= 0)).any(axis=1)
        return np.where(count == 1, 1, np.where(any_var, 3, 2))

    def first_kept(self) -> np.ndarray:
        return self.keep.argmax(axis=1)

    def const_max(self) -> np.ndarray:
        return np.where(self.keep, self.cval, -math.inf).max(axis=1)

    def other_max(self) -> np.ndarray:
        """Per entry, the largest upper bound among the *other* survivors of its window."""
        u = np.where(self.keep, self.u, -math.inf)
        top = np.sort(u, axis=1)
        first, second = top[:, -1:], top[:, -2:-1]
        return np.where(u >= first, second, first)


def _needed(network: Network, prop: OutputProperty, lower: list[np.ndarray], upper: list[np.ndarray], matrix) -> list[np.ndarray]:
    """Per layer input, the units something downstream reads (a backward liveness pass)."""
    layers = network.layers
    coefficients = np.concatenate([c.coefficients.numpy() for c in prop.clauses])
    needed: list[np.ndarray] = [np.zeros(0, bool)] * (len(layers) + 1)
    needed[-1] = (np.abs(coefficients) > 0).any(axis=0)
    for i in reversed(range(len(layers))):
        layer, out = layers[i], needed[i + 1]
        if isinstance(layer, ReLU):
            needed[i] = out & (upper[i] > 0)
        elif isinstance(layer, MaxPool):
            needed[i] = _pool_needed(layer, out, lower[i], upper[i])
        else:
            mask = np.zeros(layer.in_size, dtype=bool)
            mask[matrix(i)[np.flatnonzero(out)].indices] = True
            needed[i] = mask
    return needed


def _pool_needed(layer: MaxPool, out: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    windows = layer.windows.numpy()[out]
    valid = windows >= 0
    safe = np.where(valid, windows, 0)
    lmax = np.where(valid, lo[safe], -math.inf).max(axis=1)
    keep = valid & (hi[safe] >= lmax[:, None])
    mask = np.zeros(layer.in_size, dtype=bool)
    mask[safe[keep]] = True
    return mask
