"""What an evaluation runs: attack specs, each a registered attack with its parameters and a role.

Roles (``evaluation/runner.py`` says how each is scheduled):

- ``ensemble``: part of the worst case. Run in the suite's order on the *active set* — the
  samples no earlier attack and no smaller radius has broken (an adversarial point found at a
  smaller eps lies in every larger ball, so it is valid there too). What it reports is the
  robust accuracy *after* it: the worst case so far.
- ``diagnostic``: a sanity-check probe. Run on every sample it could attack, independently of
  the others, so its own robust accuracy is honest and two probes can be compared sample by
  sample (``checks.py``). ``nested`` lets it skip, at a larger eps, the samples it broke itself
  at a smaller one; the eps-monotone probe runs un-nested.

Nothing here guesses what an attack is from its name: the attack's ``describe()`` says it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from labelrobust.attacks import Attack, AttackDescription, make_attack, make_threat_model
from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import ConfigError

ENSEMBLE_ROLE, DIAGNOSTIC_ROLE = "ensemble", "diagnostic"
ROLES = (ENSEMBLE_ROLE, DIAGNOSTIC_ROLE)
HALF_DIAMETER = "half-diameter"
"""A fixed spec radius: half the input domain's diameter in the attack's norm (L∞: half the
box width, 0.5 for images; L2: width·√D/2), where any input can be pushed to the middle of the
box — the radius of the large-eps sanity check."""


def eps_text(value: float | str) -> str:
    """A radius as the user wrote it (``"8/255"``), or compactly when given as a number."""
    return value.strip() if isinstance(value, str) else f"{float(value):g}"


def half_diameter(norm: str, input_shape: tuple[int, ...], domain: Box = UNIT_BOX) -> float:
    """Half the largest ``norm`` distance between two inputs of ``domain^input_shape``."""
    return 0.5 * domain.diameter(norm, tuple(input_shape))


@dataclass(frozen=True)
class AttackSpec:
    """One attack of an evaluation: a display ``label``, a registered ``attack``, its ``params``,
    its ``role`` (``ensemble`` or ``diagnostic``), whether a diagnostic is ``nested`` over eps,
    and ``eps``: a fixed radius for this spec alone (a number, ``"1/2"`` or ``HALF_DIAMETER``)
    instead of the eps list (the large-eps sanity run)."""

    label: str
    attack: str
    params: dict = field(default_factory=dict)
    role: str = ENSEMBLE_ROLE
    eps: float | str | None = None
    nested: bool = True

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ConfigError(f"attack spec {self.label!r}: role must be one of {', '.join(ROLES)}, got {self.role!r}")
        if not isinstance(self.params, dict):
            raise ConfigError(f"attack spec {self.label!r}: params must be a mapping, got {self.params!r}")

    def build(self, norm: str, eps: float | str) -> Attack:
        """The attack itself, at one radius."""
        return make_attack(self.attack, norm=norm, eps=eps, **self.params)

    def describe(self, norm: str, eps: float | str) -> AttackDescription:
        return self.build(norm, eps).describe()

    @property
    def fixed_eps(self) -> bool:
        return self.eps is not None


def radius(value: float | str, norm: str, input_shape: tuple[int, ...], domain: Box = UNIT_BOX) -> tuple[float, str]:
    """A radius as (value, text), checked against the input domain."""
    if value == HALF_DIAMETER:
        r = half_diameter(norm, input_shape, domain)
        return r, f"{r:.4g}"
    threat = make_threat_model(norm, value)
    threat.check_domain(input_shape, domain, "eps")
    return threat.eps, eps_text(value)


def effort(budget: dict) -> int:
    """One number that orders runs of the same attack and objective by their budget: steps ×
    restarts × target runs (gradient attacks), iterations × restarts (APGD), queries × restarts
    (Square). Read from the attack's own ``describe().budget``, never from defaults guessed here."""
    b = budget
    runs = max(1, int(b.get("targets", 0) or 0)) * int(b.get("restarts", b.get("n_restarts", 1)) or 1)
    per_run = b.get("steps", b.get("n_iter", b.get("n_queries", 1)))
    return int(per_run) * runs
