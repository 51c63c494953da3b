"""The HiGHS backend (Huangfu & Hall 2018; MIT licence) through its Python binding ``highspy``.

The model goes in through ``addCols``/``addRows`` with CSR arrays (one call per block of
rows), so a convolution's millions of nonzeros never pass through Python one by one.

Early stopping (``objective_cutoff`` c, margin δ): a verifier only needs the *sign* of
``max − c``. HiGHS's ``objective_target`` option (MIP only) ends the search as soon as an
incumbent reaches ``c + δ`` (status ``kObjectiveTarget``, the analogue of Gurobi's
``BestObjStop``); HiGHS has no option for the other side (Gurobi's ``BestBdStop``), so a
``kCallbackMipInterrupt`` callback interrupts once the dual bound drops below ``c − δ``.
HiGHS's ``objective_bound`` option is *not* used: it turns into an internal cutoff after
which HiGHS may prune the whole tree and then reports the incumbent, not the true maximum,
as its bound — unsound for a caller that reads the bound.

Statuses are mapped to the normalised ones of ``base``; the dual bound is read from
``getInfo().mip_dual_bound`` (for an LP: the optimum itself when optimal).
"""

from __future__ import annotations

import math
import time

import numpy as np

from labelrobust.errors import SolverError
from labelrobust.verify.solvers.base import (
    CUTOFF,
    INFEASIBLE,
    INTERRUPTED,
    OPTIMAL,
    OTHER,
    SOLVERS,
    TIME_LIMIT,
    Model,
    Objective,
    Session,
    SolveOptions,
    SolveResult,
)

PACKAGE = "highspy"
_SCHEDULER = {"threads": None}
"""HiGHS runs one global thread pool per process, fixed by the first run's ``threads``; a run
asking for another count fails unless the pool is reset first (``_use_threads``)."""
IPM_ROWS = 5000
"""From this many rows, a cold LP (the first after new rows, or a MIP's root) is solved by
HiGHS's interior point method with crossover: on the verifier's convolution LPs (28k rows,
430k nonzeros) dual simplex needed > 120 s where IPM took 7–15 s. Warm re-solves after an
objective change stay with (primal) simplex: the old basis is still primal feasible."""


def import_highspy():
    """The ``highspy`` module, or a SolverError naming the package to install."""
    try:
        import highspy
    except ImportError as exc:  # a missing or broken binary wheel
        raise SolverError(f"the HiGHS MILP solver is not available ({exc}); install it with `pip install {PACKAGE}`") from None
    return highspy


@SOLVERS.register("highs", "HiGHS through highspy: dual simplex LPs and branch-and-cut MILPs")
class HighsSession(Session):
    """A model loaded into one ``highspy.Highs`` instance, kept in step with it."""

    def __init__(self, model: Model, *, threads: int = 1) -> None:
        super().__init__(model, threads=threads)
        self._hs = import_highspy()
        self._highs = self._hs.Highs()
        self._set("output_flag", False)
        self._set("threads", self.threads)
        self._cols = 0
        self._rows = 0
        self._changes = 0
        self._cost_cols = np.zeros(0, dtype=np.int32)
        self._integer = False
        self._cold = True  # no basis for the current rows yet
        self._stop_below = -math.inf
        self._highs.cbMipInterrupt.subscribe(self._interrupt)
        self.sync()

    # -- loading ----------------------------------------------------------------------------

    def _set(self, name: str, value) -> None:
        status = self._highs.setOptionValue(name, value)
        if status == self._hs.HighsStatus.kError:
            raise SolverError(f"HiGHS refused option {name}={value!r} ({PACKAGE} {self._highs.version()})")

    def _check(self, status, what: str) -> None:
        if status == self._hs.HighsStatus.kError:
            raise SolverError(f"HiGHS failed to {what} ({PACKAGE} {self._highs.version()})")

    def sync(self) -> None:
        model = self.model
        n = model.num_variables
        if n > self._cols:
            new = slice(self._cols, n)
            count = n - self._cols
            self._check(self._highs.addCols(count, np.zeros(count), model.col_lower[new], model.col_upper[new], 0, np.zeros(count, np.int32), np.zeros(0, np.int32), np.zeros(0)), "add columns")
            binary = np.flatnonzero(model.is_binary[new]) + self._cols
            if len(binary) and self._integer:
                self._integrality(binary, True)
            self._cols = n
        for block in model.blocks:
            if block.start >= self._rows:
                self._add_block(block)
                self._cold = True
        for idx in model.bound_changes[self._changes:]:
            self._check(self._highs.changeColsBounds(len(idx), idx.astype(np.int32), model.col_lower[idx], model.col_upper[idx]), "change column bounds")
        self._changes = len(model.bound_changes)

    def _add_block(self, block) -> None:
        m = block.matrix
        self._check(self._highs.addRows(m.shape[0], block.lower, block.upper, m.nnz, m.indptr[:-1].astype(np.int32), m.indices.astype(np.int32), m.data.astype(np.float64)), "add rows")
        self._rows = block.start + m.shape[0]

    def _integrality(self, cols: np.ndarray, integer: bool) -> None:
        kind = self._hs.HighsVarType.kInteger if integer else self._hs.HighsVarType.kContinuous
        flags = np.full(len(cols), int(kind), dtype=np.uint8)
        self._check(self._highs.changeColsIntegrality(len(cols), cols.astype(np.int32), flags), "change integrality")

    def _objective(self, objective: Objective) -> None:
        highs = self._highs
        if len(self._cost_cols):
            self._check(highs.changeColsCost(len(self._cost_cols), self._cost_cols, np.zeros(len(self._cost_cols))), "reset the objective")
        idx = objective.indices.astype(np.int32)
        self._check(highs.changeColsCost(len(idx), idx, objective.coefficients), "set the objective")
        self._check(highs.changeObjectiveOffset(objective.offset), "set the objective offset")
        self._check(highs.changeObjectiveSense(self._hs.ObjSense.kMaximize), "set the objective sense")
        self._cost_cols = idx

    # -- solving ----------------------------------------------------------------------------

    def solve(self, options: SolveOptions, objective: Objective | None = None) -> SolveResult:
        self.sync()
        self._objective(objective if objective is not None else self.model.objective)
        integer = not options.relax and bool(self.model.is_binary.any())
        if integer != self._integer:
            self._integrality(self.model.binaries, integer)
            self._integer = integer
        self._configure(options, integer)
        self._use_threads()
        start = time.perf_counter()
        try:
            status = self._highs.run()
        except Exception as exc:  # the binding turns C++ failures into plain exceptions
            raise SolverError(f"HiGHS failed while solving: {exc} ({PACKAGE} {self._highs.version()})") from None
        self._check(status, "solve the model")
        result = self._result(integer, time.perf_counter() - start)
        self._cold = integer or result.status != OPTIMAL  # a MIP run leaves no LP basis behind
        return result

    def _use_threads(self) -> None:
        if _SCHEDULER["threads"] not in (None, self.threads):
            self._hs.Highs.resetGlobalScheduler(True)  # no other run is in flight: we are single-threaded
        _SCHEDULER["threads"] = self.threads

    def _configure(self, options: SolveOptions, integer: bool) -> None:
        # HiGHS's MIP solver counts its time limit from each run(), its LP solver from the
        # instance's accumulated run time (measured in highspy 1.15): offset the LP's limit.
        offset = 0.0 if integer else self._highs.getRunTime()
        self._set("time_limit", float(offset + options.timeout))
        self._set("mip_rel_gap", float(options.rel_gap))
        self._set("mip_abs_gap", float(options.abs_gap))
        large = self.model.num_rows >= IPM_ROWS
        if integer:
            self._set("mip_lp_solver", "ipm" if large else "choose")
        else:
            self._set("solver", "ipm" if large and self._cold else "simplex")
            self._set("simplex_strategy", 1 if self._cold else 4)  # dual from scratch, primal when warm
        cutoff = options.objective_cutoff
        self._set("objective_target", -math.inf if cutoff is None else float(cutoff + options.cutoff_margin))
        self._stop_below = -math.inf if cutoff is None else cutoff - options.cutoff_margin

    def _interrupt(self, event) -> None:
        if event.data_out.mip_dual_bound < self._stop_below:
            event.interrupt()

    def _result(self, integer: bool, seconds: float) -> SolveResult:
        highs, ms = self._highs, self._hs.HighsModelStatus
        model_status = highs.getModelStatus()
        info = highs.getInfo()
        message = highs.modelStatusToString(model_status)
        has_point = info.primal_solution_status == 2  # kSolutionStatusFeasible
        values = np.asarray(highs.getSolution().col_value, dtype=np.float64) if has_point else None
        objective = float(info.objective_function_value) if has_point else -math.inf
        nodes = int(info.mip_node_count) if integer else 0
        if model_status == ms.kInfeasible:
            return SolveResult(INFEASIBLE, -math.inf, -math.inf, None, seconds, nodes, message)
        bound = _dual_bound(info, integer, model_status == ms.kOptimal, objective)
        status = _STATUS.get(model_status.name, OTHER)
        if model_status == ms.kInterrupt and bound < self._stop_below:
            status = CUTOFF
        return SolveResult(status, objective, bound, values, seconds, nodes, message)


_STATUS = {
    "kOptimal": OPTIMAL,
    "kTimeLimit": TIME_LIMIT,
    "kObjectiveTarget": CUTOFF,
    "kInterrupt": INTERRUPTED,
    "kHighsInterrupt": INTERRUPTED,
}


def _dual_bound(info, integer: bool, optimal: bool, objective: float) -> float:
    """The solver's upper bound on the maximum (+inf when it proved none)."""
    if integer:
        bound = float(info.mip_dual_bound)
        return bound if math.isfinite(bound) or bound < 0 else math.inf
    return objective if optimal else math.inf
