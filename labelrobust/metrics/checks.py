"""Gradient-masking sanity checks (Carlini et al. 2019, "On Evaluating Adversarial Robustness").

Each check returns a ``Flag`` with a verdict — ``ok`` (True: passed, False: flagged, None:
not applicable because the evaluation lacks the attacks it compares) — a one-line detail, the
labels of the outcomes it implicates, and a link to its entry in ``docs/flags.md``. A flagged
check means the reported robustness is probably overstated; it is marked in the tables.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import torch

from labelrobust.metrics.inference import eval_mode, model_device
from labelrobust.metrics.robust_eval import Outcome, RobustReport, half_diameter

DOCS = "docs/flags.md"
NEAR_ZERO = 0.05


def large_eps(norm: str, input_shape: tuple[int, ...] | None) -> float | None:
    """The radius at which every image can be pushed to mid-gray, so robust accuracy must be ~0:
    half the input domain's diameter (L∞ 0.5; L2 √D/2, 4 on 8×8 digits). None for an L2 report
    whose input shape is unknown."""
    if input_shape is None:
        return 0.5 if norm == "linf" else None
    return half_diameter(norm, input_shape)


@dataclass
class Flag:
    name: str
    ok: bool | None
    detail: str
    outcomes: list[str] = field(default_factory=list)

    @property
    def doc(self) -> str:
        return f"{DOCS}#{self.name}"

    @property
    def verdict(self) -> str:
        return {True: "ok", False: "FLAG", None: "n/a"}[self.ok]


def tolerance(n: int) -> float:
    """Differences below one percentage point or two samples are noise, not a signal."""
    return max(0.01, 2.0 / max(n, 1))


def _by_eps(outcomes: list[Outcome]) -> dict[float, list[Outcome]]:
    groups: dict[float, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups[o.eps].append(o)
    return groups


def check_eps_monotone(report: RobustReport) -> Flag:
    tol = tolerance(len(report.labels))
    bad = []
    by_label: dict[str, list[Outcome]] = defaultdict(list)
    for o in report.outcomes:
        by_label[o.label].append(o)
    for label, runs in by_label.items():
        runs.sort(key=lambda o: o.eps)
        for a, b in zip(runs, runs[1:]):
            if b.robust_accuracy > a.robust_accuracy + tol:
                bad.append(f"{label}: {a.robust_accuracy:.3f} at eps {a.eps_text} < {b.robust_accuracy:.3f} at eps {b.eps_text}")
    if not any(len(r) > 1 for r in by_label.values()):
        return Flag("eps-monotone", None, "needs one attack at two or more radii")
    return Flag("eps-monotone", not bad, "; ".join(bad) or "robust accuracy never rises with eps", [b.split(":")[0] for b in bad])


def check_large_eps(report: RobustReport) -> Flag:
    threshold = large_eps(report.norm, report.input_shape)
    if threshold is None:
        return Flag("large-eps", None, "the input shape is unknown, and with it the large L2 radius")
    large = [o for o in report.outcomes if o.eps >= threshold - 1e-12]
    if not large:
        return Flag("large-eps", None, f"no attack at eps ≥ {threshold:.4g} ({report.norm})")
    best = min(large, key=lambda o: o.robust_accuracy)
    ok = best.robust_accuracy <= NEAR_ZERO
    detail = f"strongest attack at eps {best.eps_text} ({best.label}) leaves {best.robust_accuracy:.3f}" + ("" if ok else f" > {NEAR_ZERO}: the attacks cannot move the model even where any image is reachable")
    return Flag("large-eps", ok, detail, [] if ok else [o.label for o in large])


def check_more_effort(report: RobustReport) -> Flag:
    """More steps or restarts of the same attack and objective must not raise robust accuracy."""
    tol = tolerance(len(report.labels))
    bad, compared = [], False
    for eps, runs in _by_eps(report.outcomes).items():
        families: dict[tuple, list[Outcome]] = defaultdict(list)
        for o in runs:
            families[(o.attack, o.objective)].append(o)
        for family in families.values():
            if len(family) < 2:
                continue
            compared = True
            family.sort(key=lambda o: o.effort)
            for weak, strong in zip(family, family[1:]):
                if strong.robust_accuracy > weak.robust_accuracy + tol:
                    bad.append(f"{strong.label} {strong.robust_accuracy:.3f} > {weak.label} {weak.robust_accuracy:.3f} at eps {strong.eps_text}")
    if not compared:
        return Flag("more-effort", None, "needs the same attack run with two budgets (steps or restarts)")
    return Flag("more-effort", not bad, "; ".join(bad) or "more steps/restarts never helped the defender", [b.split(" ")[0] for b in bad])


def _compare(report: RobustReport, name: str, weaker, stronger, what: str, same_objective: bool = False) -> Flag:
    """Flag where the best of the ``weaker`` attacks beats the best of the ``stronger`` ones at an
    eps (within one objective when ``same_objective``); the stronger side's outcomes are the
    overstated ones and get the flag."""
    tol = tolerance(len(report.labels))
    bad, implicated, compared = [], [], False
    for eps, runs in _by_eps(report.outcomes).items():
        groups = defaultdict(list)
        for o in runs:
            groups[o.objective if same_objective else ""].append(o)
        for group in groups.values():
            a = [o for o in group if weaker(o)]
            b = [o for o in group if stronger(o)]
            if not a or not b:
                continue
            compared = True
            best_a = min(a, key=lambda o: o.robust_accuracy)
            best_b = min(b, key=lambda o: o.robust_accuracy)
            if best_a.robust_accuracy < best_b.robust_accuracy - tol:
                bad.append(f"eps {best_a.eps_text}: {best_a.label} {best_a.robust_accuracy:.3f} < {best_b.label} {best_b.robust_accuracy:.3f}")
                implicated += [o.label for o in b]
    if not compared:
        return Flag(name, None, f"needs {what} at the same eps")
    return Flag(name, not bad, "; ".join(bad) or f"no {what.split(' and ')[0]} beat the stronger attacks", implicated)


def check_black_box(report: RobustReport) -> Flag:
    return _compare(report, "black-box-beats-white-box", lambda o: o.kind in ("black-box", "transfer"), lambda o: o.kind == "white-box", "black-box or transfer attacks and white-box attacks")


def check_fgsm(report: RobustReport) -> Flag:
    return _compare(report, "fgsm-beats-pgd", lambda o: o.attack == "fgsm", lambda o: o.attack in ("pgd", "cw"), "FGSM and PGD with one objective", same_objective=True)


def check_own_loss(report: RobustReport) -> Flag:
    """Robustness that holds only under the label space's own loss is an artefact of that loss."""
    return _compare(report, "own-loss-only", lambda o: o.kind == "white-box" and o.objective != "loss", lambda o: o.kind == "white-box" and o.objective == "loss", "adaptive-objective attacks and own-loss attacks")


CHECKS = (check_eps_monotone, check_large_eps, check_more_effort, check_black_box, check_fgsm, check_own_loss)


def run_checks(report: RobustReport, extra: list[Flag] = ()) -> list[Flag]:
    """Run every check, mark flagged outcomes, store and return the flags."""
    flags = [check(report) for check in CHECKS] + list(extra)
    for flag in flags:
        if flag.ok is False:
            for o in report.outcomes:
                if o.label in flag.outcomes and flag.name not in o.flags:
                    o.flags.append(flag.name)
    report.checks = flags
    return flags


def zero_gradient_check(model: torch.nn.Module, space, x: torch.Tensor, y: torch.Tensor) -> Flag:
    """Share of samples whose own-loss input gradient is exactly zero (saturated or masked).

    ``x`` and ``y`` may live anywhere: they are moved to the model's device."""
    device = model_device(model)
    with eval_mode(model), torch.enable_grad():
        xg = x.detach().to(device).clone().requires_grad_(True)
        loss = space.loss(model(xg), space.encode(y.to(device))).sum()
        (grad,) = torch.autograd.grad(loss, xg)
    zero = (grad.flatten(1).abs().amax(1) == 0).float().mean().item()
    ok = zero <= 0.1
    return Flag("zero-gradients", ok, f"{zero:.1%} of samples have an exactly zero gradient of the label space's own loss" + ("" if ok else ": gradient attacks on that loss cannot move them"))
