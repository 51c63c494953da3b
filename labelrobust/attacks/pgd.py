"""PGD (Madry et al. 2018) with random start, restarts, momentum, APGD's step schedule, targets,
targeted runs on the top classes, and an active set.

Each step moves along the threat model's steepest ascent direction and projects back onto the
ball and the input domain; ``step_schedules.py`` holds the two ways of stepping (a constant
step with optional MI-FGSM momentum, or APGD's halving step size with its momentum).

Active set: the outputs of every forward pass show which samples already succeed; those are
frozen at their successful point and leave the batch, so later steps and restarts spend
compute only on samples still standing (``early_stop=False`` keeps full trajectories and
returns the point with the best objective instead). Restarts begin from a fresh random start.

Top-class targets (``targets=k``, untargeted attacks only): instead of one untargeted run per
restart, one run per target class — the k classes with the highest clean scores other than the
attacked class — each maximising the targeted version of the objective (for the margin
``s_t − max_{j≠t} s_j``), as APGD-T does with the DLR loss. Success is still "no longer the
attacked class". Targeted margins are what breaks many adversarially trained models that an
untargeted margin leaves standing (Croce & Hein 2020; Gowal et al. 2019).
"""

from __future__ import annotations

import torch
from torch import Tensor

from labelrobust.attacks.base import GradientAttack, Search, step_size_value
from labelrobust.attacks.objectives import Objective
from labelrobust.attacks.registry import ATTACKS
from labelrobust.attacks.step_schedules import APGDSchedule, ConstantSchedule
from labelrobust.attacks.threat import ThreatModel
from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import ConfigError
from labelrobust.validation import integer
from labelrobust.validation import number as checked_number
from labelrobust.labels import LabelSpace

SCHEDULES = ("constant", "apgd")


@ATTACKS.register("pgd", "projected gradient descent: steps, restarts, momentum, APGD schedule, targets, any objective")
class PGD(GradientAttack):
    """Parameters: ``steps`` (default 10), ``step_size`` α (default 2.5·eps/steps, Madry et al.;
    with ``schedule="apgd"`` the initial step, default 2·eps), ``restarts`` (default 1),
    ``random_start`` (default True), ``momentum`` μ in [0, 1) (default 0; constant schedule
    only), ``schedule`` (``constant`` or ``apgd``), ``rho`` (APGD's halving threshold, 0.75),
    ``targets`` (k top-class targeted runs, default 0 = untargeted), ``early_stop`` (default
    True: the active set), ``objective`` (default ``loss``)."""

    name = "pgd"

    def __init__(
        self,
        threat: ThreatModel,
        objective: str | None = None,
        steps: int = 10,
        step_size: float | None = None,
        restarts: int = 1,
        random_start: bool = True,
        momentum: float = 0.0,
        early_stop: bool = True,
        schedule: str = "constant",
        rho: float = 0.75,
        targets: int = 0,
    ) -> None:
        super().__init__(threat, objective)
        self.steps, self.restarts = integer(steps, f"{self.name}: steps", low=1), integer(restarts, f"{self.name}: restarts", low=1)
        self.targets = integer(targets, f"{self.name}: targets", low=0)
        if schedule not in SCHEDULES:
            raise ConfigError(f"{self.name}: schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0.0 <= momentum < 1.0:
            raise ConfigError(f"{self.name}: momentum must lie in [0, 1), got {momentum!r}")
        if schedule == "apgd" and momentum:
            raise ConfigError(f"{self.name}: schedule='apgd' brings its own momentum (0.75); leave momentum at 0")
        rho = checked_number(rho, f"{self.name}: rho", low=0.0, high=1.0, low_open=True, high_open=True)
        for flag, value in (("random_start", random_start), ("early_stop", early_stop)):
            if not isinstance(value, bool):
                raise ConfigError(f"{self.name}: {flag} must be true or false, got {value!r}")
        default = 2.0 * threat.eps if schedule == "apgd" else 2.5 * threat.eps / steps
        self.step_size = default if step_size is None else step_size_value(step_size, self.name, threat.eps)
        self.random_start, self.momentum, self.early_stop = random_start, float(momentum), early_stop
        self.schedule, self.rho = schedule, float(rho)

    def budget(self) -> dict:
        return {
            "steps": self.steps, "restarts": self.restarts, "targets": self.targets, "step_size": self.step_size,
            "schedule": self.schedule, "momentum": self.momentum, "random_start": self.random_start, "early_stop": self.early_stop,
        }

    # -- the evaluation search -------------------------------------------------------------

    def run(self, model, space, x: Tensor, y: Tensor, target: Tensor | None, domain: Box) -> Search:
        if self.targets and target is not None:
            raise ConfigError(f"{self.name}: targets={self.targets} picks its own target classes; it cannot be combined with an explicit target")
        best = _Best(x)
        passes = self._passes(model, space, x, y, target)
        for number, pass_target in enumerate(passes):
            active = (~best.done).nonzero().flatten() if self.early_stop else torch.arange(len(x), device=x.device)
            if len(active) == 0:
                break
            self._one_pass(model, space, x, y, target, pass_target, active, best, first=number == 0, domain=domain)
        return Search(best.x, best.pred)

    def _passes(self, model, space: LabelSpace, x: Tensor, y: Tensor, target: Tensor | None) -> list[Tensor | None]:
        """One entry per run: None (untargeted restart) or the per-sample target of that run."""
        if not self.targets:
            return [target] * self.restarts
        with torch.no_grad():
            scores = space.scores(model(x)).float()
        scores = scores.scatter(1, y[:, None], float("-inf"))
        k = min(self.targets, space.num_classes - 1)
        ranked = scores.argsort(dim=1, descending=True)[:, :k]
        return [ranked[:, r] for r in range(k) for _ in range(self.restarts)]

    def _one_pass(self, model, space, x, y, target, pass_target, active, best: _Best, first: bool, domain: Box) -> None:
        xa, ya = x[active], y[active]
        ta = None if pass_target is None else pass_target[active]
        x_adv = self.start(xa, domain)
        schedule = self.new_schedule(xa)
        for step in range(self.steps + 1):
            last = step == self.steps
            if last:  # the last forward pass only scores the final iterate: no gradient needed
                with torch.no_grad():
                    outputs = model(x_adv)
                    value, grad = self.objective(space, outputs, ya, ta), None
            else:
                outputs, value, grad = self.input_gradient(model, space, x_adv, ya, ta)
            with torch.no_grad():
                pred = space.decide(outputs, ya)
                won = pred != ya if target is None else pred == target[active]
                best.update(active, x_adv, pred, value, won, first and step == 0, self.early_stop)
                if last:
                    return
                schedule.observe(step, value, x_adv)
                if self.early_stop and won.any():
                    keep = ~won
                    if not keep.any():
                        return
                    active, xa, ya, x_adv, grad = active[keep], xa[keep], ya[keep], x_adv[keep], grad[keep]
                    ta = None if ta is None else ta[keep]
                    schedule.keep(keep)
            x_adv = schedule.step(xa, x_adv, grad, self.threat.ascent_direction, lambda c, cand: self.clip(c, cand, domain))

    # -- shared by the search and the inner maximisation ---------------------------------------

    def start(self, x: Tensor, domain: Box = UNIT_BOX) -> Tensor:
        """The first iterate: a uniform random point of the ball (clipped to the domain), or ``x``."""
        return self.clip(x, x + self.threat.random_start(x), domain) if self.random_start else x.clone()

    def new_schedule(self, x: Tensor) -> ConstantSchedule | APGDSchedule:
        if self.schedule == "apgd":
            return APGDSchedule(x, self.step_size, self.steps, self.rho)
        return ConstantSchedule(x, self.step_size, self.momentum)

    def maximize(self, model, space, x: Tensor, y: Tensor, objective: Objective | None = None, domain: Box = UNIT_BOX) -> Tensor:
        """The last iterate of ``steps`` steps from the (random) start, for every sample (Madry
        et al. 2018 train on the final PGD iterate): no active set, no restarts, no success
        test, exactly ``steps`` forward+input-gradient passes. With the APGD schedule the
        best point of the objective is returned instead (what APGD returns)."""
        x = x.detach()
        x_adv = self.start(x, domain)
        schedule = self.new_schedule(x)
        project = lambda c, cand: self.clip(c, cand, domain)  # noqa: E731
        for step in range(self.steps):
            _, value, grad = self.input_gradient(model, space, x_adv, y, None, objective)
            schedule.observe(step, value, x_adv)
            x_adv = schedule.step(x, x_adv, grad, self.threat.ascent_direction, project)
        if isinstance(schedule, APGDSchedule):
            with torch.no_grad():
                schedule.observe(self.steps, (objective or self.objective)(space, model(x_adv), y, None), x_adv)
            return schedule.best_x
        return x_adv


class _Best:
    """The best point per sample over all runs: a success beats any objective value; the first
    point seen is kept even when its objective is −inf or NaN."""

    def __init__(self, x: Tensor) -> None:
        self.x = x.clone()
        self.pred = torch.empty(len(x), dtype=torch.int64, device=x.device)
        self.value = torch.full((len(x),), float("-inf"), device=x.device)
        self.done = torch.zeros(len(x), dtype=torch.bool, device=x.device)

    def update(self, active: Tensor, x_adv: Tensor, pred: Tensor, value: Tensor, won: Tensor, first: bool, early_stop: bool) -> None:
        score = torch.where(won, torch.full_like(value, float("inf")), value.to(self.value.dtype))
        better = (score > self.value[active]) | first
        self.x[active[better]] = x_adv[better]
        self.pred[active[better]] = pred[better]
        self.value[active[better]] = score[better]
        if early_stop:
            self.done[active[won]] = True


@ATTACKS.register("cw", "CW-L∞: PGD on the margin of the class scores")
class CarliniWagnerLinf(PGD):
    """CW-L∞ as used in robustness evaluations (Carlini & Wagner 2017; Madry et al.): PGD on the
    margin ``max_{j≠y} s_j − s_y`` of the label space's scores, 30 steps by default."""

    name = "cw"
    default_objective = "margin"

    def __init__(self, threat: ThreatModel, steps: int = 30, **kwargs) -> None:
        super().__init__(threat, steps=steps, **kwargs)
