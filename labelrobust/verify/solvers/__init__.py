"""MILP solver backends behind one small interface (``base``): build a ``Model``, open a
``Session`` of a registered backend, solve. One line per backend registers it:
``@SOLVERS.register("highs")`` in ``highs.py``; another backend is one more file."""

from labelrobust.verify.solvers import highs  # noqa: F401  (registration)
from labelrobust.verify.solvers.base import (
    CUTOFF,
    INFEASIBLE,
    INTERRUPTED,
    OPTIMAL,
    OTHER,
    SOLVERS,
    STATUSES,
    TIME_LIMIT,
    Model,
    Objective,
    Session,
    SolveOptions,
    SolveResult,
    available_solvers,
    open_session,
    solve,
)

__all__ = [
    "CUTOFF", "INFEASIBLE", "INTERRUPTED", "OPTIMAL", "OTHER", "SOLVERS", "STATUSES", "TIME_LIMIT",
    "Model", "Objective", "Session", "SolveOptions", "SolveResult", "available_solvers", "open_session", "solve",
]
