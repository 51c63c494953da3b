"""What the verifier answers for one query, and the record of how it got there.

``status`` is one of ``robust``, ``not robust`` or ``unknown``:

- ``robust``: a sound stage proved ``max_{x' ∈ S} m(f(x')) < 0`` (``upper_bound < 0``);
- ``not robust``: ``counterexample`` lies in the input set and violates the property in a
  float64 forward pass of the PyTorch network (``lower_bound`` = its margin ≥ 0);
- ``unknown``: nothing decided; ``reason`` says why (``timeout``, ``numerical``: the solver's
  maximiser did not re-check in float64, or the solver's status). A timeout is never robust.

``stage`` names the stage that decided (``clean``: the unperturbed input already violates,
``interval``, ``crown``, ``attack``, ``milp``);
``times`` holds the seconds spent in every stage that ran; ``weakest_points`` the maximising
points the stages found (attack optimum, MILP maximiser), which the neighbourhood search reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

ROBUST = "robust"
NOT_ROBUST = "not robust"
UNKNOWN = "unknown"
STATUSES = (ROBUST, NOT_ROBUST, UNKNOWN)


@dataclass
class Verdict:
    status: str
    stage: str
    upper_bound: float = float("inf")
    """A sound upper bound on the property margin over the input set (robust iff < 0)."""
    lower_bound: float = float("-inf")
    """The largest margin of a point of the set evaluated in float64 (not robust iff ≥ 0)."""
    reason: str | None = None
    times: dict[str, float] = field(default_factory=dict)
    counterexample: Tensor | None = None
    weakest_points: list[Tensor] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"verdict status must be one of {STATUSES}, got {self.status!r}")

    @property
    def decided(self) -> bool:
        return self.status != UNKNOWN

    def as_dict(self, with_points: bool = False) -> dict:
        """JSON-able summary; the counterexample and weakest points as lists when asked."""
        out = {
            "status": self.status,
            "stage": self.stage,
            "reason": self.reason,
            "upper_bound": self.upper_bound,
            "lower_bound": self.lower_bound,
            "times": dict(self.times),
            "details": dict(self.details),
        }
        if with_points:
            out["counterexample"] = None if self.counterexample is None else self.counterexample.tolist()
            out["weakest_points"] = [p.tolist() for p in self.weakest_points]
        return out
