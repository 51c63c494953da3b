"""The maximal robust layered neighbourhood (methods.md §5): given layer weights
``w = (w_0 … w_r) ≥ 0``, find radii ``ε = (ε_0 … ε_r) ≥ 0`` maximising the **weighted size**
``w·ε`` such that ``layered_neighbourhood(x, mask, ε)`` is robust (``verify_query`` answers
``robust``). Two searches, both driven by the complete verifier as an oracle:

- ``oracle_search`` (the study's): expand ε along the gradient of the weighted size plus a
  robustness-level term read from the verifier's weakest points; when the verifier rejects, a
  CEGIS step shrinks toward the last robust ε with cutting weights (``fixed`` or
  ``sensitivity``) and uses the counterexample as a cut; stop when no expansion is accepted.
- ``binary_search`` (the baseline): layer by layer, the largest ``ε_d`` with the other layers
  at their current values, by bisection to the tolerance; each probe one verifier call.

Facts both rely on. **Monotonicity**: ε ≤ ε' componentwise ⇒ the set of ε lies in the set of
ε', so robustness of ε' implies robustness of ε. **Saturation**: layer d's box covers the
whole domain once ``ε_d ≥ ε^sat_d = max_{p∈l_d} max(x_p − low, high − x_p)``; larger radii
do not change the set, so every ε_d is capped there (otherwise a layer the network ignores
would make ``w·ε`` unbounded). **Counterexamples** (CEGIS): a point x' of a rejected set,
with per-layer radii ``ρ_d(x') = max_{p∈l_d} |x'_p − x_p|``, lies in the set of every
ε ≥ ρ(x'), so the whole orthant {ε ≥ ρ} is not robust and is never proposed again.

Both start with the clean check ε = 0 (one verifier call; a clean input that is not robust,
or undecided, is reported and not searched), then an optional robust starting ε. Every
``unknown`` verdict (timeout, numerical) counts as a rejection: an ε is accepted only on a
``robust`` verdict of a full verifier call on exactly that ε, so the final ε of either search
is certified by the verdict stored with it (``NeighbourhoodResult.final``); nothing is ever
accepted from cached information.

The oracle-guided search, exactly (``_layer_costs``, ``_direction``, ``_expansion``,
``_shrink``, ``_accept``). State: the last accepted ε with its verdict, the per-layer limits
(ε^sat at first), the counterexamples' radii, a trust radius h (``first_step``, default 0.05)
and a secant factor κ (1 at first).

- **Robustness level from the weakest points.** With ``g(x') = ∂m/∂x`` the margin's input
  gradient (float64 reference network), the first-order cost of radius in layer d at a point
  x' is ``G_d(x') = Σ_{p∈l_d, movable} |g_p(x')|``: growing ε_d by δ lets each pixel move δ
  further in the direction of its gradient's sign, so the worst margin grows by ≈ ``G_d δ``;
  a pixel is *movable* unless its box already touches the domain bound on that side. The cost
  used is ``G_d = max(G_d(x*), mean_k G_d(x_k))``: x* the verdict's last weakest point (the
  MILP maximiser if the MILP ran, else the attack's best point; the clean input when the
  bounds decided alone) and x_1 … x_16 (``samples``) uniform points of the box the step may
  reach (radii ε + h on the layers with room). At one point inactive ReLUs hide the cost of
  the layers whose pixels would switch them on; on a trained CNN the outer rings read as
  free at the clean input and then cost the most. The slack is ``s = −U``, U < 0 the
  verdict's sound upper bound on the margin: how far the best margin is below 0, never
  overestimated.
- **Expansion** (the gradient of the weighted size, w, plus the robustness term −λG: the
  projected gradient of the Lagrangian ``w·ε − λ M(ε)``): over the layers with room ≥ τ,
  ``u_d = max(w_d − λ G_d, 0)`` with ``λ = μ · max_d w_d/G_d`` (``balance`` μ ∈ [0, 1),
  default ½): the layer with the best gain per unit of margin always expands, a layer whose
  ratio is below μ times the best does not, and sensitive layers expand less. If some layers
  have G_d = 0, they alone expand (u_d = w_d). Step length (largest entry) ``L = min(α·max u,
  h)`` with ``α = f s / (κ G·u)`` (α = ∞ when G·u = 0): the linear model predicts the step
  uses the fraction f (``slack_fraction``, default ¾) of the slack. L is raised to the
  tolerance τ when smaller, so a pessimistic slack never ends the search early. Then
  ``δ_d = min(L u_d / max u, room_d)``.
- **Acceptance.** On a robust verdict of ε + δ: ε ← ε + δ; ``κ ← clip((U_new − U_old) /
  (G·δ), 1/100, 4)`` (the observed slack used over the predicted, a secant correction of the
  first-order model); ``h ← 2 max δ`` when the first candidate of the expansion was accepted,
  ``h ← max δ`` after shrinks.
- **CEGIS shrink.** After the k-th rejection of one expansion (candidate ε + δ; unknown
  counts): ``δ ← (1 − c) ⊙ δ`` with the cutting weights c, halved as well from the second
  rejection on (or when the cut left δ unchanged), so the loop always ends. If the
  counterexample x' would still lie in the new candidate's set, the responsible layer
  (ρ_d > ε_d) with the largest cutting weight is cut to halfway between ε_d and ρ_d. A
  counterexample that only one layer d reaches beyond ε (ρ_j ≤ ε_j for j ≠ d) sets a hard
  limit: every later candidate is ≥ ε, so ε_d < ρ_d from then on (kept as ``ε_d ≤ ρ_d −
  τ/2``). A candidate inside the orthant of any earlier counterexample is shrunk again
  without a verifier call. The expansion fails when the largest entry of δ falls below τ.
- **Stop**: at a failed expansion that taught no new hard limit (one that did: h ← max(h/2,
  τ) and plan again), when no layer has room ≥ τ, or at ``max_calls`` verifier calls.
- **Cutting weights.** ``fixed``: ``c_d = (r − d)/(r + 1)``, i.e. ``(r/(r+1), (r−1)/(r+1), …,
  0)``: the object itself (layer 0) gives back most of its expansion, the outermost layer none.
  ``sensitivity`` (methods.md: "more shrink for less sensitive layers"): with
  ``s_d = mean_{p∈l_d} |g_p|`` at the counterexample (the rejected verdict's weakest point),
  ``c_d = r/(r+1) · (s_max − s_d)/(s_max − s_min)`` (all ½ when every s_d is equal), the same
  range as the fixed weights. The reasoning: the expansion gave the *least* sensitive layers
  the largest steps (u_d grows as G_d falls), and a small gradient at one point is the least
  reliable first-order estimate (ReLUs that are inactive there switch on in the larger box),
  so the optimistic part of a rejected step sits mostly in the insensitive layers.

**Choosing μ.** On a linear margin the robust region is a simplex and the optimum a vertex
(the fractional knapsack: fill layers by w_d/G_d), which μ near 1 reaches; on ReLU networks
the margin grows faster than linearly in each ε_d, so spreading the radius over several
layers pays, and μ = ½ gave the larger weighted sizes on a trained DOUBLE-MNIST CNN.

Sources: CEGIS as in Solar-Lezama et al. (2006), the counterexample ruling out a region of
candidates; the verifier is MIPVerify-style (Tjeng, Xiao, Tedrake 2019).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import ConfigError, SolverError
from labelrobust.validation import integer, number, one_of
from labelrobust.verify.input_sets import DTYPE, chebyshev_layers, layered_neighbourhood
from labelrobust.verify.verdict import NOT_ROBUST, ROBUST, Verdict

log = logging.getLogger(__name__)

METHODS = ("search", "binary")
CUTS = ("fixed", "sensitivity")
KAPPA_RANGE = (0.01, 4.0)


Oracle = Callable[[tuple[float, ...]], Verdict]
Gradient = Callable[[Tensor], Tensor]


def default_layer_weights(layers: int) -> tuple[float, ...]:
    """``w_d = (r + 1 − d)/(r + 1)`` for ``layers = r + 1``: (1, ¾, ½, ¼) for r = 3, so the
    object counts most and each ring outward a step less."""
    n = integer(layers, "neighbourhood: number of layers", low=1)
    return tuple((n - d) / n for d in range(n))


def fixed_cut_weights(layers: int) -> tuple[float, ...]:
    """The study's fixed cutting weights ``(r/(r+1), (r−1)/(r+1), …, 0)``, ``c_d = (r − d)/(r + 1)``."""
    n = integer(layers, "neighbourhood: number of layers", low=1)
    return tuple((n - 1 - d) / n for d in range(n))


def sensitivity_cut_weights(sensitivity: Sequence[float]) -> tuple[float, ...]:
    """``c_d = r/(r+1) · (s_max − s_d)/(s_max − s_min)``: the least sensitive layer is cut by
    r/(r+1), the most sensitive not at all; all ½ when the sensitivities are equal."""
    s = [float(v) for v in sensitivity]
    n = len(s)
    top, low = max(s), min(s)
    if not top > low:
        return tuple(0.5 for _ in s)
    return tuple((n - 1) / n * (top - v) / (top - low) for v in s)


def layer_weights(weights: Sequence[float] | None, layers: int) -> tuple[float, ...]:
    """``weights`` checked against ``layers`` = r + 1 (None: ``default_layer_weights``)."""
    if weights is None:
        return default_layer_weights(layers)
    values = list(weights)
    if len(values) != layers:
        raise ConfigError(f"layer weights: got {len(values)} weights for {layers} layers (ε_0 … ε_{layers - 1}); give one weight per layer")
    checked = tuple(number(v, f"layer weight w_{d}", low=0.0) for d, v in enumerate(values))
    if not any(checked):
        raise ConfigError("layer weights are all 0, so every ε has weighted size 0; give at least one positive weight")
    return checked


def start_radii(start: Sequence[float] | None, layers: int) -> tuple[float, ...]:
    """A starting ε (None: all 0), one radius ≥ 0 per layer."""
    if start is None:
        return (0.0,) * layers
    values = list(start)
    if len(values) != layers:
        raise ConfigError(f"start ε: got {len(values)} radii for {layers} layers (ε_0 … ε_{layers - 1}); give one radius per layer")
    return tuple(number(v, f"start ε_{d}", low=0.0) for d, v in enumerate(values))


@dataclass(frozen=True)
class SearchSettings:
    """``tolerance`` τ: resolution on each ε_d (binary-search interval, smallest step);
    ``max_calls``: verifier calls per image and method, the clean check included;
    ``cut``: cutting weights (``fixed``, ``sensitivity``); ``slack_fraction`` f and
    ``balance`` μ: the expansion's constants (module docstring)."""

    tolerance: float = 2e-3
    max_calls: int = 60
    cut: str = "fixed"
    slack_fraction: float = 0.75
    balance: float = 0.5
    first_step: float = 0.05
    samples: int = 16

    def __post_init__(self) -> None:
        number(self.tolerance, "neighbourhood: tolerance", low=0.0, low_open=True)
        integer(self.max_calls, "neighbourhood: max_calls", low=1)
        one_of(self.cut, CUTS, "neighbourhood: cut")
        number(self.slack_fraction, "neighbourhood: slack_fraction", low=0.0, high=1.0, low_open=True)
        number(self.balance, "neighbourhood: balance", low=0.0, high=1.0, high_open=True)
        number(self.first_step, "neighbourhood: first_step", low=0.0, low_open=True)
        integer(self.samples, "neighbourhood: samples", low=0)


class LayeredProblem:
    """What a search needs: the clean input (flat float64), the layer of every input (its
    pixel's Chebyshev distance to the object; inputs beyond layer r are fixed), the weights,
    the oracle ``verify(ε) → Verdict`` and the margin's input gradient ``gradient(N×D) → N×D``."""

    def __init__(self, center: Tensor, distance: Tensor, weights: Sequence[float], verify: Oracle, gradient: Gradient, domain: Box = UNIT_BOX) -> None:
        self.center = center.to("cpu", DTYPE).flatten()
        self.distance = distance.to("cpu", torch.int64).flatten()
        if self.distance.shape != self.center.shape:
            raise ConfigError(f"layer map has {self.distance.numel()} entries, the input {self.center.numel()}")
        deepest = int(self.distance.max())
        self.weights = layer_weights(weights, len(weights))
        if len(self.weights) > deepest + 1:
            raise ConfigError(f"{len(self.weights)} layers requested but the image has only {deepest + 1} (distances 0..{deepest} from the object); use at most {deepest} as --layers")
        self.verify, self.gradient, self.domain = verify, gradient, domain
        self.members = [self.distance == d for d in range(self.layers)]
        self.counts = [int(m.sum()) for m in self.members]
        self.saturation = tuple(self._saturation(m) for m in self.members)

    @property
    def layers(self) -> int:
        return len(self.weights)

    def _saturation(self, member: Tensor) -> float:
        x = self.center[member]
        return float(torch.maximum(x - self.domain.low, self.domain.high - x).max())

    def weighted_size(self, eps: Sequence[float]) -> float:
        return float(sum(w * e for w, e in zip(self.weights, eps)))

    def radii(self, point: Tensor) -> tuple[float, ...]:
        """Per layer, the smallest radius whose set contains ``point``: ``max_{p∈l_d} |x'_p − x_p|``."""
        gap = (point.to(DTYPE).flatten() - self.center).abs()
        return tuple(float(gap[m].max()) if c else 0.0 for m, c in zip(self.members, self.counts))

    def costs(self, points: Tensor, eps: Sequence[float]) -> tuple[list[float], list[float]]:
        """Averaged over the rows of ``points`` (N×D): ``G_d`` (Σ |g_p| over layer d's inputs
        that are movable under radii ``eps``) and ``s_d`` (mean |g_p| over layer d's inputs)."""
        g = self.gradient(points.to(DTYPE).reshape(len(points), -1)).to(DTYPE)
        radius = self.per_input(eps)
        up = (self.center + radius) < self.domain.high
        down = (self.center - radius) > self.domain.low
        movable = torch.where(g > 0, up, torch.where(g < 0, down, torch.zeros_like(up)))
        big = [float((g.abs() * movable)[:, m].sum(dim=1).mean()) for m in self.members]
        mean = [float(g.abs()[:, m].mean()) if c else 0.0 for m, c in zip(self.members, self.counts)]
        return big, mean

    def per_input(self, eps: Sequence[float]) -> Tensor:
        """The radius of every input under ``eps`` (0 beyond the last layer)."""
        radius = torch.zeros_like(self.center)
        for m, e in zip(self.members, eps):
            radius[m] = float(e)
        return radius

    def sample(self, eps: Sequence[float], n: int, generator: torch.Generator) -> Tensor:
        """``n`` points drawn uniformly from the layered box of radii ``eps`` (N×D)."""
        radius = self.per_input(eps)
        low = (self.center - radius).clamp_min(self.domain.low)
        high = (self.center + radius).clamp_max(self.domain.high)
        return low + torch.rand((n, self.center.numel()), dtype=DTYPE, generator=generator) * (high - low)


def margin_gradient(reference: nn.Module, prop, input_shape: tuple[int, ...]) -> Gradient:
    """``x ↦ ∂ m(f(x)) / ∂x`` per row (N×D), on the float64 reference network."""

    def gradient(points: Tensor) -> Tensor:
        x = points.detach().to("cpu", DTYPE).clone().requires_grad_(True)
        with torch.enable_grad():
            margin = prop.margin(reference(x.reshape(-1, *input_shape))).sum()
            (g,) = torch.autograd.grad(margin, x)
        return g

    return gradient


def verifier_problem(model: nn.Module, x: Tensor, mask: Tensor, prop, weights: Sequence[float], config=None, *, network=None, reference=None, device: str = "cpu", domain: Box = UNIT_BOX) -> LayeredProblem:
    """The problem for image ``x`` (C×H×W), the perturbed object's ``mask`` (H×W) and the
    property, with ``verify_query`` (``config``: a ``VerifyConfig``) as the oracle."""
    from labelrobust.verify.network import from_torch, reference_model
    from labelrobust.verify.pipeline import make_query, verify_query

    distance = chebyshev_layers(mask)  # refuses an empty or non-2-D mask
    if x.ndim != 3 or tuple(x.shape[1:]) != tuple(mask.shape):
        raise ConfigError(f"object mask has shape {tuple(mask.shape)}, the image is {tuple(x.shape)}; a layered neighbourhood needs a C×H×W image and an H×W mask")
    network = network or from_torch(model, tuple(x.shape))
    reference = reference or reference_model(model)
    layered_neighbourhood(x, mask, [0.0] * len(weights), domain)  # the image must lie in the domain

    def verify(eps: tuple[float, ...]) -> Verdict:
        box = layered_neighbourhood(x, mask, eps, domain)
        return verify_query(make_query(model, box, prop, network=network, reference=reference, device=device), config)

    per_input = distance.expand(x.shape[0], -1, -1)
    return LayeredProblem(x, per_input, weights, verify, margin_gradient(reference, prop, tuple(x.shape)), domain)


@dataclass
class Probe:
    """One verifier call of a search: the ε it asked about and what the verifier answered."""

    eps: tuple[float, ...]
    status: str
    stage: str
    reason: str | None
    upper_bound: float
    lower_bound: float
    seconds: float
    accepted: bool

    def as_dict(self) -> dict:
        return {"eps": list(self.eps), "status": self.status, "stage": self.stage, "reason": self.reason, "upper_bound": self.upper_bound, "lower_bound": self.lower_bound, "seconds": self.seconds, "accepted": self.accepted}


@dataclass
class NeighbourhoodResult:
    """The outcome of one search on one image.

    ``status``: ``robust`` when ``eps`` is certified by ``final`` (the verdict of a full
    verifier call on exactly ``eps``); otherwise the clean input's status (``not robust`` /
    ``unknown``) and ``eps`` all 0. ``stop``: why the search ended.
    """

    method: str
    eps: tuple[float, ...]
    weighted_size: float
    calls: int
    seconds: float
    status: str
    stop: str
    probes: list[Probe] = field(default_factory=list)
    final: Verdict | None = None

    def stages(self) -> dict[str, int]:
        """How many calls each verifier stage decided."""
        counts: dict[str, int] = {}
        for p in self.probes:
            counts[p.stage] = counts.get(p.stage, 0) + 1
        return counts

    def as_dict(self) -> dict:
        return {
            "method": self.method, "eps": list(self.eps), "weighted_size": self.weighted_size, "calls": self.calls,
            "seconds": self.seconds, "status": self.status, "stop": self.stop, "stages": self.stages(),
            "final": None if self.final is None else self.final.as_dict(), "probes": [p.as_dict() for p in self.probes],
        }


class _Trace:
    """Counts and records the verifier calls of one search."""

    def __init__(self, problem: LayeredProblem, settings: SearchSettings) -> None:
        self.problem, self.settings = problem, settings
        self.probes: list[Probe] = []
        self.start = time.perf_counter()

    @property
    def calls(self) -> int:
        return len(self.probes)

    @property
    def exhausted(self) -> bool:
        return self.calls >= self.settings.max_calls

    def ask(self, eps: Sequence[float]) -> Verdict:
        eps = tuple(float(e) for e in eps)
        since = time.perf_counter()
        verdict = self.problem.verify(eps)
        self.probes.append(Probe(eps, verdict.status, verdict.stage, verdict.reason, float(verdict.upper_bound), float(verdict.lower_bound), time.perf_counter() - since, verdict.status == ROBUST))
        return verdict

    def result(self, method: str, eps: Sequence[float], verdict: Verdict, stop: str) -> NeighbourhoodResult:
        eps = tuple(float(e) for e in eps)
        if verdict.status == ROBUST and not any(p.accepted and p.eps == eps for p in self.probes):
            verdict = self.ask(eps)  # a guard: the reported ε must carry the verdict of a call on exactly it
            if verdict.status != ROBUST:
                raise SolverError(f"neighbourhood search: the final ε {eps} did not verify robust on its own call ({verdict.status}); the verifier contradicts itself")
        return NeighbourhoodResult(method, eps, self.problem.weighted_size(eps), self.calls, time.perf_counter() - self.start, verdict.status, stop, self.probes, verdict)


def _begin(trace: _Trace, start: Sequence[float] | None) -> tuple[tuple[float, ...], Verdict] | tuple[None, Verdict]:
    """The clean check (ε = 0), then ``start`` if given; (ε, verdict) to grow from, or
    (None, verdict) when the clean input is not robust."""
    zero = (0.0,) * trace.problem.layers
    verdict = trace.ask(zero)
    if verdict.status != ROBUST:
        return None, verdict
    first = start_radii(start, trace.problem.layers)
    if any(first):
        first = tuple(min(e, s) for e, s in zip(first, trace.problem.saturation))
        other = trace.ask(first)
        if other.status == ROBUST:
            return first, other
    return zero, verdict


def _not_robust_result(trace: _Trace, method: str, verdict: Verdict) -> NeighbourhoodResult:
    why = "the clean input is not robust" if verdict.status == NOT_ROBUST else f"the clean input is undecided ({verdict.reason})"
    return trace.result(method, (0.0,) * trace.problem.layers, verdict, why)


def binary_search(problem: LayeredProblem, settings: SearchSettings | None = None, start: Sequence[float] | None = None) -> NeighbourhoodResult:
    """The baseline: for d = 0 … r, bisect ``[ε_d, ε^sat_d]`` to the tolerance for the
    largest robust ε_d with the other layers at their current values."""
    settings = settings or SearchSettings()
    trace = _Trace(problem, settings)
    eps, verdict = _begin(trace, start)
    if eps is None:
        return _not_robust_result(trace, "binary", verdict)
    eps = list(eps)
    for d in range(problem.layers):
        low, high = eps[d], problem.saturation[d]
        while high - low > settings.tolerance and not trace.exhausted:
            mid = 0.5 * (low + high)
            answer = trace.ask([*eps[:d], mid, *eps[d + 1:]])
            if answer.status == ROBUST:
                low, eps[d], verdict = mid, mid, answer
            else:
                high = mid
    stop = "verifier-call limit reached" if trace.exhausted else "every layer bisected to the tolerance"
    return trace.result("binary", eps, verdict, stop)


@dataclass
class _State:
    """The oracle-guided search's memory: the last robust ε and its verdict, the hard
    per-layer limits, the counterexamples' radii, the secant factor κ, the trust radius h
    and the layer costs G the current step was planned with."""

    eps: list[float]
    verdict: Verdict
    limit: list[float]
    reach: float
    cuts: list[tuple[float, ...]] = field(default_factory=list)
    kappa: float = 1.0
    costs: list[float] = field(default_factory=list)
    generator: torch.Generator = field(default_factory=lambda: torch.Generator().manual_seed(0))


def oracle_search(problem: LayeredProblem, settings: SearchSettings | None = None, start: Sequence[float] | None = None) -> NeighbourhoodResult:
    """The study's oracle-guided search (module docstring for every formula)."""
    settings = settings or SearchSettings()
    trace = _Trace(problem, settings)
    eps, verdict = _begin(trace, start)
    if eps is None:
        return _not_robust_result(trace, "search", verdict)
    state = _State(list(eps), verdict, list(problem.saturation), settings.first_step)
    while True:
        if trace.exhausted:
            stop = "verifier-call limit reached"
            break
        step = _expansion(problem, state, settings)
        if step is None:
            stop = "every layer reached its limit"
            break
        limits = list(state.limit)
        if not _expand(trace, state, step):
            if trace.exhausted:
                stop = "verifier-call limit reached"
                break
            if state.limit == limits:
                stop = "no expansion accepted (step below the tolerance)"
                break
            state.reach = max(0.5 * state.reach, settings.tolerance)  # a new hard limit: plan again
    return trace.result("search", state.eps, state.verdict, stop)


def _room(problem: LayeredProblem, state: _State) -> list[float]:
    return [max(lim - e, 0.0) if w > 0 else 0.0 for lim, e, w in zip(state.limit, state.eps, problem.weights)]


def _weakest(problem: LayeredProblem, verdict: Verdict) -> Tensor:
    return verdict.weakest_points[-1] if verdict.weakest_points else problem.center


def _layer_costs(problem: LayeredProblem, state: _State, active: list[int], settings: SearchSettings) -> list[float]:
    """``G_d``: the larger of the cost at the weakest point and its mean over ``samples``
    random points of the box the step may reach (ε + h on the active layers); at one point,
    inactive ReLUs hide the cost of the layers whose pixels would switch them on."""
    big, _ = problem.costs(_weakest(problem, state.verdict)[None], state.eps)
    if settings.samples:
        reach = [e + state.reach if d in active else e for d, e in enumerate(state.eps)]
        near, _ = problem.costs(problem.sample(reach, settings.samples, state.generator), state.eps)
        big = [max(a, b) for a, b in zip(big, near)]
    return big


def _direction(problem: LayeredProblem, big: list[float], active: list[int], balance: float) -> list[float]:
    """``u_d = max(w_d − λ G_d, 0)``, ``λ = μ max w_d/G_d`` over the active layers; the layers
    without first-order cost alone (``u_d = w_d``) when there are any."""
    w = problem.weights
    free = [d for d in active if big[d] <= 0]
    if free:
        return [w[d] if d in free else 0.0 for d in range(problem.layers)]
    lam = balance * max(w[d] / big[d] for d in active)
    return [max(w[d] - lam * big[d], 0.0) if d in active else 0.0 for d in range(problem.layers)]


def _expansion(problem: LayeredProblem, state: _State, settings: SearchSettings) -> list[float] | None:
    """The next step δ from the last robust ε, or None when no layer has room ≥ τ:
    ``δ_d = min(L u_d / max u, room_d)``, ``L = max(min(α max u, h), τ)``, ``α = f s/(κ G·u)``."""
    tol = settings.tolerance
    room = _room(problem, state)
    active = [d for d in range(problem.layers) if room[d] >= tol]  # room for at least one τ step
    if not active:
        return None
    big = _layer_costs(problem, state, active, settings)
    u = _direction(problem, big, active, settings.balance)
    cost = sum(b * v for b, v in zip(big, u))
    slack = max(-state.verdict.upper_bound, 0.0)
    alpha = settings.slack_fraction * slack / (state.kappa * cost) if cost > 0 else math.inf
    length = min(alpha * max(u), state.reach)
    length = max(length, tol)  # a pessimistic slack must not end the search: at least one τ step
    state.costs = big
    return [min(length * v / max(u), r) for v, r in zip(u, room)]


def _expand(trace: _Trace, state: _State, step: list[float]) -> bool:
    """Try ``ε + step``, shrinking it CEGIS-style on every rejection; True once one is accepted."""
    problem, settings = trace.problem, trace.settings
    rejections = 0
    while max(step) >= settings.tolerance:
        candidate = [e + s for e, s in zip(state.eps, step)]
        if _ruled_out(state, candidate):  # inside a known counterexample's orthant: no call needed
            rejections += 1
            step = _shrink(state, step, _cut_weights(problem, state, None, settings), None, rejections)
            continue
        if trace.exhausted:
            return False
        answer = trace.ask(candidate)
        if answer.status == ROBUST:
            _accept(state, candidate, answer, rejections)
            return True
        rejections += 1
        rho = problem.radii(answer.counterexample) if answer.counterexample is not None else None
        if rho is not None:
            _learn(state, rho, settings.tolerance)
        step = _shrink(state, step, _cut_weights(problem, state, answer, settings), rho, rejections)
    return False


def _accept(state: _State, candidate: list[float], answer: Verdict, rejections: int) -> None:
    """Move to the accepted ε; κ ← observed slack used / predicted (clipped to KAPPA_RANGE);
    h ← 2·max δ after a first-try acceptance, max δ after shrinks."""
    step = [c - e for c, e in zip(candidate, state.eps)]
    used = answer.upper_bound - state.verdict.upper_bound
    predicted = sum(g * s for g, s in zip(state.costs, step))
    if predicted > 0 and math.isfinite(used):
        state.kappa = min(max(used / predicted, KAPPA_RANGE[0]), KAPPA_RANGE[1])
    state.reach = (2.0 if rejections == 0 else 1.0) * max(step)
    state.eps, state.verdict = candidate, answer


def _ruled_out(state: _State, candidate: Sequence[float]) -> bool:
    return any(all(c >= r for c, r in zip(candidate, rho)) for rho in state.cuts)


def _learn(state: _State, rho: tuple[float, ...], tolerance: float) -> None:
    """Keep the counterexample's orthant; one responsible layer makes it a hard limit."""
    state.cuts.append(rho)
    beyond = [d for d, (r, e) in enumerate(zip(rho, state.eps)) if r > e]
    if not beyond:
        log.warning("a counterexample lies inside the last robust neighbourhood ε = %s: the verifier contradicts itself", state.eps)
    elif len(beyond) == 1:
        d = beyond[0]
        state.limit[d] = min(state.limit[d], max(rho[d] - 0.5 * tolerance, state.eps[d]))


def _cut_weights(problem: LayeredProblem, state: _State, answer: Verdict | None, settings: SearchSettings) -> tuple[float, ...]:
    if settings.cut == "fixed":
        return fixed_cut_weights(problem.layers)
    point = answer.counterexample if answer is not None and answer.counterexample is not None else _weakest(problem, answer or state.verdict)
    _, mean = problem.costs(point[None], state.eps)
    return sensitivity_cut_weights(mean)


def _shrink(state: _State, step: list[float], cut: Sequence[float], rho: tuple[float, ...] | None, rejections: int) -> list[float]:
    """``δ ← (1 − c) ⊙ δ``, halved too from the 2nd rejection on (or when the cut changed
    nothing); then out of the counterexample's orthant through the most-cut responsible layer."""
    new = [(1.0 - c) * s for c, s in zip(cut, step)]
    if rejections >= 2 or all(math.isclose(a, b) for a, b in zip(new, step)):
        new = [0.5 * s for s in new]
    if rho is not None and all(e + s >= r for e, s, r in zip(state.eps, new, rho)):
        beyond = [d for d, (r, e) in enumerate(zip(rho, state.eps)) if r > e]
        if beyond:
            d = max(beyond, key=lambda j: (cut[j], -j))
            new[d] = min(new[d], 0.5 * (rho[d] - state.eps[d]))
    return new


SEARCHES = {"search": oracle_search, "binary": binary_search}


def run_search(method: str, problem: LayeredProblem, settings: SearchSettings | None = None, start: Sequence[float] | None = None) -> NeighbourhoodResult:
    """``oracle_search`` (``search``) or ``binary_search`` (``binary``)."""
    return SEARCHES[one_of(method, METHODS, "neighbourhood: method")](problem, settings, start)


__all__ = [
    "CUTS", "METHODS", "LayeredProblem", "NeighbourhoodResult", "Probe", "SearchSettings", "binary_search",
    "default_layer_weights", "fixed_cut_weights", "layer_weights", "margin_gradient", "oracle_search", "run_search",
    "sensitivity_cut_weights", "start_radii", "verifier_problem",
]
