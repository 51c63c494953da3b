"""One verification query, cheapest stage first.

1. **Sound bounds**: interval arithmetic, then CROWN/DeepPoly back-substitution
   (``bounds.py``). An upper bound on the property margin below −1e-9 answers ``robust``.
2. **Attack**: APGD (``labelrobust.attacks.PGD`` with ``schedule="apgd"``) maximising the
   property's own margin over the input set. The set is a box, so the attack runs on
   ``u ∈ [0, 1]^D`` with ``x' = lower + (upper − lower) ⊙ u``: an L∞ ball of radius ½ around
   u = ½ is exactly the box, and fixed inputs (lower = upper) cannot move. A point whose
   margin is ≥ 0 in a **float64 forward pass of the PyTorch network** answers ``not robust``.
3. **MILP** (``milp.py``, MIPVerify-style, HiGHS): its dual bound below 0 answers ``robust``;
   its maximiser is re-checked exactly like an attack's point. A maximiser that does not
   violate the property in float64 although the solver says it does (or whose float64 margin
   differs from the solver's by more than ``recheck_tolerance``) answers
   ``unknown (numerical)``, and so does a dual bound below the float64 margin of a point of
   the set (impossible for a correct bound). A time limit without a proving dual bound answers
   ``unknown (timeout)``: a timeout is never turned into robust without one.

Before any stage the clean input (the set's center) is checked in float64: if it already
violates the property (a misclassified sample), the answer is ``not robust`` at stage ``clean``.

The float32 model is used only to *search* (attack); every answer rests on float64
arithmetic: the bounds and the MILP are built from float64 copies of the weights, and every
counterexample is checked on a float64 copy of the network.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from labelrobust.attacks.pgd import PGD
from labelrobust.attacks.threat import Linf
from labelrobust.domain import UNIT_BOX
from labelrobust.errors import ConfigError
from labelrobust.validation import integer, number, one_of
from labelrobust.verify.bounds import crown_bounds, interval_bounds, property_upper_bound, unstable_counts
from labelrobust.verify.input_sets import InputSet
from labelrobust.verify.milp import solve_milp
from labelrobust.verify.network import Network, check_query_parts, float64_outputs, from_torch, reference_model
from labelrobust.verify.properties import OutputProperty
from labelrobust.verify.verdict import NOT_ROBUST, ROBUST, UNKNOWN, Verdict

BOUND_METHODS = ("interval", "crown")
TIGHTENING = ("none", "lp", "milp")
TOP2_ENCODINGS = ("selection", "pairwise")
PROVING_STATUSES = ("optimal", "cutoff", "time limit")
"""Solver statuses whose dual bound is trusted (after the checks in ``_milp_stage``)."""
BOUND_TOLERANCE = 1e-9
"""The bound stages answer robust only below −1e-9: the bounds carry a round-off guard of about
1e-12 per layer (``bounds.ROUND_OFF``), not directed rounding, so a bound within 1e-9 of 0 is
left to the stages that check points in float64."""


@dataclass(frozen=True)
class VerifyConfig:
    """Settings of the staged query; the defaults are the CLI's.

    ``timeout``: seconds for the whole query (default 120). ``bounds``: the strongest bound
    stage, ``interval`` or ``crown`` (default). ``attack_steps``/``attack_restarts``: APGD
    budget (50 steps, 2 restarts; 0 steps skips the attack). ``milp``: run the complete stage
    (default true; false leaves undecided queries ``unknown``). ``tighten``: per-layer
    bound tightening before the MILP (``none``, ``lp`` (default), ``milp``).
    ``top2_encoding``: ``selection`` (default) or ``pairwise``. ``recheck_tolerance``: the
    largest accepted gap between the solver's objective and the float64 margin at its point
    (1e-6). ``solver``: backend name (``highs``). ``threads``: solver threads (1).
    """

    timeout: float = 120.0
    bounds: str = "crown"
    attack_steps: int = 50
    attack_restarts: int = 2
    milp: bool = True
    tighten: str = "lp"
    top2_encoding: str = "selection"
    recheck_tolerance: float = 1e-6
    solver: str = "highs"
    threads: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        number(self.timeout, "verify: timeout", low=0.0, low_open=True)
        one_of(self.bounds, BOUND_METHODS, "verify: bounds")
        integer(self.attack_steps, "verify: attack_steps", low=0)
        integer(self.attack_restarts, "verify: attack_restarts", low=1)
        one_of(self.tighten, TIGHTENING, "verify: tighten")
        one_of(self.top2_encoding, TOP2_ENCODINGS, "verify: top2_encoding")
        number(self.recheck_tolerance, "verify: recheck_tolerance", low=0.0)
        integer(self.threads, "verify: threads", low=1)
        if not isinstance(self.milp, bool):
            raise ConfigError(f"verify: milp must be true or false, got {self.milp!r}")


@dataclass
class Query:
    """A network (the verifier's float64 view and the float64 PyTorch reference, plus the
    float32 model the attack searches with), an input set and a property."""

    network: Network
    reference: nn.Module
    model: nn.Module
    input_set: InputSet
    prop: OutputProperty
    device: str = "cpu"
    label: str = ""

    def __post_init__(self) -> None:
        check_query_parts("the query", self.network, self.input_set, self.prop)


def make_query(model: nn.Module, input_set: InputSet, prop: OutputProperty, *, network: Network | None = None, reference: nn.Module | None = None, device: str = "cpu") -> Query:
    """A query for a torch model; pass ``network``/``reference`` to reuse them across queries."""
    model = model.eval()
    network = network or from_torch(model, input_set.shape)
    return Query(network, reference or reference_model(model), model, input_set, prop, device)


@dataclass
class _Clock:
    """Seconds per stage and the query's deadline."""

    timeout: float
    start: float = field(default_factory=time.perf_counter)
    times: dict[str, float] = field(default_factory=dict)

    def left(self) -> float:
        return self.timeout - (time.perf_counter() - self.start)

    def record(self, stage: str, since: float) -> None:
        self.times[stage] = self.times.get(stage, 0.0) + time.perf_counter() - since


def verify_query(query: Query, config: VerifyConfig | None = None) -> Verdict:
    """The verdict on ``query``: ``robust``, ``not robust`` (with a float64-checked
    counterexample) or ``unknown`` (with the reason), and the record of every stage."""
    config = config or VerifyConfig()
    clock = _Clock(config.timeout)
    record: dict = {"weakest": [], "lower": float("-inf"), "details": {}}
    clean = float(float64_margin(query, query.input_set.center[None])[0])
    record["details"]["clean_margin"] = clean
    record["lower"] = clean
    if clean >= 0:  # the unperturbed input already violates (e.g. a misclassified sample)
        record["lower"] = clean
        return _verdict(NOT_ROBUST, "clean", math.inf, clock, record, counterexample=query.input_set.center.clone())
    bounds, upper = _bound_stages(query, config, clock, record)
    if upper < -BOUND_TOLERANCE:
        return _verdict(ROBUST, record["stage"], upper, clock, record)
    if config.attack_steps:
        found = _attack_stage(query, config, clock, record)
        if found is not None:
            return _verdict(NOT_ROBUST, "attack", upper, clock, record, counterexample=found)
    if clock.left() <= 0:
        return _verdict(UNKNOWN, "attack" if config.attack_steps else record["stage"], upper, clock, record, reason="timeout")
    if not config.milp:
        return _verdict(UNKNOWN, record["stage"], upper, clock, record, reason="incomplete stages only (milp disabled)")
    return _milp_stage(query, config, bounds, upper, clock, record)


def _bound_stages(query: Query, config: VerifyConfig, clock: _Clock, record: dict):
    """Interval, then CROWN bounds; returns the tightest bounds and margin upper bound."""
    net, box, prop = query.network, query.input_set, query.prop
    since = time.perf_counter()
    bounds = interval_bounds(net, box)
    upper = property_upper_bound(net, box, prop, bounds, method="interval")
    clock.record("interval", since)
    record["stage"] = "interval"
    record["details"]["unstable_interval"] = unstable_counts(net, bounds)
    if upper < -BOUND_TOLERANCE or config.bounds == "interval":
        return bounds, upper
    since = time.perf_counter()
    bounds = crown_bounds(net, box, bounds)
    upper = min(upper, property_upper_bound(net, box, prop, bounds, method="crown"))
    clock.record("crown", since)
    record["stage"] = "crown"
    record["details"]["unstable_crown"] = unstable_counts(net, bounds)
    return bounds, upper


def float64_margin(query: Query, points: Tensor) -> Tensor:
    """The property margin of each flat point (N×D) in a float64 forward pass of the PyTorch network."""
    return query.prop.margin(float64_outputs(query.reference, points, query.input_set.shape))


class _BoxModel(nn.Module):
    """``u ↦ model(lower + (upper − lower) ⊙ u)``: the input box as the unit cube."""

    def __init__(self, model: nn.Module, box: InputSet, device: str) -> None:
        super().__init__()
        self.model, self.shape = model, box.shape
        self.low = box.lower.to(device, torch.float32)
        self.width = (box.upper - box.lower).to(device, torch.float32)

    def forward(self, u: Tensor) -> Tensor:
        return self.model((self.low + self.width * u).reshape(-1, *self.shape))


def _attack_stage(query: Query, config: VerifyConfig, clock: _Clock, record: dict) -> Tensor | None:
    """APGD on the property margin; the float64-checked violating point, or None."""
    since = time.perf_counter()
    box, prop = query.input_set, query.prop
    model = _BoxModel(query.model, box, query.device)
    objective = lambda _space, outputs, _y, _target: prop.margin(outputs.double())  # noqa: E731
    attack = PGD(Linf(0.5), steps=config.attack_steps, schedule="apgd")
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(config.seed)
    try:
        u0 = torch.full((config.attack_restarts, box.size), 0.5, device=query.device)
        labels = torch.zeros(len(u0), dtype=torch.int64, device=query.device)
        u = attack.maximize(model, None, u0, labels, objective, UNIT_BOX).detach()
    finally:
        torch.random.set_rng_state(generator_state)
    points = (box.lower + (box.upper - box.lower) * u.to("cpu", torch.float64)).clamp(box.lower, box.upper)
    margins = float64_margin(query, points)
    best = int(margins.argmax())
    record["weakest"].append(points[best])
    record["lower"] = max(record["lower"], float(margins[best]))
    clock.record("attack", since)
    return points[best] if margins[best] >= 0 else None


def _milp_stage(query: Query, config: VerifyConfig, bounds, upper: float, clock: _Clock, record: dict) -> Verdict:
    since = time.perf_counter()
    result = solve_milp(
        query.network, query.input_set, query.prop, bounds, timeout=max(clock.left(), 1e-3),
        solver=config.solver, top2_encoding=config.top2_encoding, tighten=config.tighten, threads=config.threads,
    )
    clock.record("milp", since)
    record["details"]["milp"] = {"status": result.status, "objective": result.objective, "bound": result.bound, **result.details}
    upper = min(upper, result.bound)
    if result.point is not None:
        point = result.point.to(torch.float64).clamp(query.input_set.lower, query.input_set.upper)
        margin = float(float64_margin(query, point[None])[0])
        record["weakest"].append(point)
        record["lower"] = max(record["lower"], margin)
        if margin >= 0:
            return _verdict(NOT_ROBUST, "milp", upper, clock, record, counterexample=point)
        if result.objective is not None and result.objective >= 0:
            gap = abs(result.objective - margin)
            reason = "numerical" if gap > config.recheck_tolerance else "numerical (solver objective ≥ 0 within tolerance, float64 margin < 0)"
            record["details"]["recheck_gap"] = gap
            return _verdict(UNKNOWN, "milp", upper, clock, record, reason=reason)
    if result.status == "infeasible":  # the clean input is always feasible: a numerical failure
        return _verdict(UNKNOWN, "milp", upper, clock, record, reason="numerical (the solver reports the MILP infeasible, but the clean input satisfies it)")
    if not math.isfinite(result.bound) or result.bound < record["lower"] - config.recheck_tolerance:
        # a true bound is never below the margin of a point already evaluated (the clean input)
        return _verdict(UNKNOWN, "milp", upper, clock, record, reason=f"numerical (the solver's bound {result.bound:.6g} lies below the float64 margin {record['lower']:.6g} of a point of the set; solver status {result.status})")
    if result.bound < -config.recheck_tolerance and result.status in PROVING_STATUSES:  # proves it, even from a search stopped early
        return _verdict(ROBUST, "milp", upper, clock, record)
    if result.bound < 0:
        return _verdict(UNKNOWN, "milp", upper, clock, record, reason=f"numerical (the solver's bound {result.bound:.3g} is within the tolerance {config.recheck_tolerance:g} of 0)")
    reason = "timeout" if result.status == "time limit" else f"solver status {result.status}"
    return _verdict(UNKNOWN, "milp", upper, clock, record, reason=reason)


def _verdict(status: str, stage: str, upper: float, clock: _Clock, record: dict, *, counterexample: Tensor | None = None, reason: str | None = None) -> Verdict:
    lower = record["lower"]
    return Verdict(
        status, stage, upper_bound=float(upper), lower_bound=float(lower), reason=reason, times=dict(clock.times),
        counterexample=counterexample, weakest_points=list(record["weakest"]), details=record["details"],
    )
