"""Gradient-masking sanity checks (Carlini et al. 2019, "On Evaluating Adversarial Robustness").

Each check returns a ``Flag`` with a verdict — ``ok`` (True: passed, False: flagged, None: not
applicable because the evaluation lacks the cells it compares) — a one-line detail, the
(attack, eps) *cells* it concerns, and a link to its entry in ``docs/flags.md``. A flag marks
only those cells, never an attack at every eps.

Like is compared with like: two cells are compared sample by sample at the same eps, and only
when the attacks' own descriptions say they differ in the one property the check is about
(the objective at the same budget, the budget at the same objective, ...). A difference counts
only beyond the chance level of the *discordant* samples (those one attack broke and the other
did not): with ``d`` of them, two equally strong randomised attacks differ by about ``√d``
(McNemar's test), so a flag needs a gap above ``max(2, 1% of n, 3·√d)`` samples. On a plain
cross-entropy model two runs of one attack with different random starts differ by a few
samples out of hundreds, which this keeps from being read as masking.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import torch

from labelrobust.attacks import BLACK_BOX, OBJECTIVES, TRANSFER, WHITE_BOX
from labelrobust.domain import UNIT_BOX, Box
from labelrobust.evaluation.outcomes import Outcome, RobustReport, broken_by, is_broken, ordered
from labelrobust.evaluation.specs import DIAGNOSTIC_ROLE, ENSEMBLE_ROLE, effort, half_diameter
from labelrobust.metrics.inference import eval_mode, model_device

DOCS = "docs/flags.md"
NEAR_ZERO = 0.05
BLACK_BOX_TOLERANCE = 0.005
"""A black-box attack may break at most 2 samples or 0.5% of them (the suite's target gap to
AutoAttack) that the white-box attacks left standing; all such samples go one way, so the
two-sided chance level does not apply."""
VANISHING = 1e-12
"""A gradient whose largest entry is below this is numerically zero: a step of size eps along
it moves the loss by at most ~D·eps·1e-12, far below float32's resolution of the loss."""


@dataclass
class Flag:
    name: str
    ok: bool | None
    detail: str
    cells: list[tuple[str, float]] = field(default_factory=list)
    """The (label, eps) cells the flag concerns; empty when it passed."""

    @property
    def doc(self) -> str:
        return f"{DOCS}#{self.name}"

    @property
    def verdict(self) -> str:
        return {True: "ok", False: "FLAG", None: "n/a"}[self.ok]


def significant(gap: int, discordant: int, n: int) -> bool:
    """Whether one attack breaking ``gap`` more samples than another is beyond chance."""
    return gap > max(2.0, 0.01 * n, 3.0 * math.sqrt(discordant))


def _broken(report: RobustReport, cell: Outcome) -> torch.Tensor:
    return is_broken(cell.adv_pred, report.clean_pred, report.target)


def beats(report: RobustReport, a: Outcome, b: Outcome) -> tuple[bool, int, int]:
    """Whether cell ``a`` broke significantly more samples than cell ``b``; with the counts of
    samples only ``a`` broke and only ``b`` broke."""
    ba, bb = _broken(report, a), _broken(report, b)
    only_a, only_b = int((ba & ~bb).sum()), int((bb & ~ba).sum())
    return significant(only_a - only_b, only_a + only_b, len(report.labels)), only_a, only_b


def _diagnostics(report: RobustReport) -> dict[float, list[Outcome]]:
    groups: dict[float, list[Outcome]] = defaultdict(list)
    for o in report.outcomes:
        if o.role == DIAGNOSTIC_ROLE:
            groups[o.eps].append(o)
    return groups


def _pairs(report: RobustReport, name: str, pick, what: str) -> Flag:
    """Flag where, at one eps, a cell ``b`` that should be at least as strong as ``a``
    (``pick(a, b)`` is True) breaks significantly fewer samples; ``b`` is the overstated cell."""
    bad, cells, compared = [], [], False
    for _, runs in sorted(_diagnostics(report).items()):
        for a in runs:
            for b in runs:
                if a is b or a.nested != b.nested or not pick(a, b):  # a union over radii is no single run
                    continue
                compared = True
                hit, only_a, only_b = beats(report, a, b)
                if hit:
                    bad.append(f"eps {a.eps_text}: {a.label} broke {only_a} samples {b.label} did not ({only_b} the other way)")
                    cells.append((b.label, b.eps))
    if not compared:
        return Flag(name, None, f"needs {what} at the same eps")
    return Flag(name, not bad, "; ".join(bad) or f"compared {what}: no significant gap", cells)


def check_own_loss(report: RobustReport) -> Flag:
    """An adaptive objective (on the class scores) beats the label space's own loss at the same
    attack and budget: robustness that holds only under the own loss is an artefact of it."""
    def pick(a: Outcome, b: Outcome) -> bool:
        return (a.kind == b.kind == WHITE_BOX and a.attack == b.attack and a.adaptive and not b.adaptive
                and effort_of(a) == effort_of(b))
    return _pairs(report, "own-loss-only", pick, "own-loss and adaptive runs of one attack with one budget")


def check_more_effort(report: RobustReport) -> Flag:
    """More steps, restarts or queries of the same attack and objective must not help the defender."""
    def pick(a: Outcome, b: Outcome) -> bool:
        return a.attack == b.attack and a.objective == b.objective and a.kind == b.kind and effort_of(b) > effort_of(a)
    return _pairs(report, "more-effort", pick, "one attack and objective with two budgets")


def check_fgsm(report: RobustReport) -> Flag:
    """A single gradient step must not beat a multi-step attack on the same objective."""
    def pick(a: Outcome, b: Outcome) -> bool:
        return (a.kind == b.kind == WHITE_BOX and a.objective == b.objective and effort_of(a) == 1 and effort_of(b) > 1
                and "steps" in a.budget and "steps" in b.budget)
    return _pairs(report, "fgsm-beats-pgd", pick, "a single-step and a multi-step attack on one objective")


def check_eps_monotone(report: RobustReport) -> Flag:
    """A diagnostic's robust accuracy must not rise with eps (meaningful for un-nested probes;
    a nested one is monotone by construction)."""
    bad, cells, compared = [], [], False
    by_label: dict[str, list[Outcome]] = defaultdict(list)
    for o in report.outcomes:
        if o.role == DIAGNOSTIC_ROLE and not o.fixed_eps:
            by_label[o.label].append(o)
    for label, runs in by_label.items():
        runs.sort(key=lambda o: o.eps)
        for small, large in zip(runs, runs[1:]):
            compared = True
            hit, only_small, only_large = beats(report, small, large)
            if hit:
                bad.append(f"{label}: broke {only_small} samples at eps {small.eps_text} that it left standing at eps {large.eps_text}")
                cells.append((label, large.eps))
    if not compared:
        return Flag("eps-monotone", None, "needs one diagnostic attack at two or more radii")
    return Flag("eps-monotone", not bad, "; ".join(bad) or "robust accuracy never rises with eps", cells)


def check_large_eps(report: RobustReport) -> Flag:
    """At half the domain's diameter any input can be moved to the middle of the box, so
    robust accuracy must be near zero."""
    if report.input_shape is None:
        return Flag("large-eps", None, "the input shape is unknown, and with it the large radius")
    domain = Box(**report.domain) if report.domain else UNIT_BOX
    threshold = half_diameter(report.norm, report.input_shape, domain)
    large = [o for o in report.outcomes if o.eps >= threshold - 1e-12]
    if not large:
        return Flag("large-eps", None, f"no attack at eps ≥ {threshold:.4g} ({report.norm})")
    best = min(large, key=lambda o: o.robust_accuracy)
    ok = best.robust_accuracy <= NEAR_ZERO
    detail = f"strongest attack at eps {best.eps_text} ({best.label}) leaves {best.robust_accuracy:.3f}" + ("" if ok else f" > {NEAR_ZERO}: the attacks cannot move the model even where any input is reachable")
    return Flag("large-eps", ok, detail, [] if ok else [(o.label, o.eps) for o in large])


def check_black_box(report: RobustReport) -> Flag:
    """A black-box or transfer attack that breaks samples every white-box attack left standing
    says the white-box attacks miss what exists.

    Per cell, only the samples that cell itself broke count (its own decisions at its eps, not
    what it carries from a smaller eps), against what the white-box attacks left standing at
    that eps or below: for an ensemble cell the white-box cells run before it, for a diagnostic
    the white-box diagnostics (ensemble cells skip what the diagnostics broke, so they are no
    independent witness for a diagnostic)."""
    bad, cells, compared = [], [], False
    run = ordered(report.outcomes)
    for i, cell in enumerate(run):
        if cell.kind not in (BLACK_BOX, TRANSFER) or cell.fixed_eps:
            continue
        earlier = run[:i] if cell.role == ENSEMBLE_ROLE else [o for o in run if o.role == DIAGNOSTIC_ROLE]
        white = [o for o in earlier if o.eps <= cell.eps and o.kind == WHITE_BOX]
        if not white:
            continue
        compared = True
        standing = ~broken_by(white, report.clean_pred, report.target)
        attacked, decisions = cell.decision_tensor()
        own = attacked & is_broken(decisions, report.clean_pred, report.target)
        new = int((own & standing).sum())
        if new > max(2, BLACK_BOX_TOLERANCE * len(report.labels)):
            bad.append(f"eps {cell.eps_text}: {cell.label} broke {new} samples that every white-box attack left standing")
            cells += [(o.label, o.eps) for o in white if o.eps == cell.eps]  # the overstated ones
    if not compared:
        return Flag("black-box-beats-white-box", None, "needs black-box or transfer attacks and white-box attacks at the same eps")
    return Flag("black-box-beats-white-box", not bad, "; ".join(bad) or "no black-box or transfer attack broke a sample the white-box attacks left standing beyond chance", cells)


def effort_of(cell: Outcome) -> int:
    return effort(cell.budget)


CHECKS = (check_eps_monotone, check_large_eps, check_more_effort, check_black_box, check_fgsm, check_own_loss)


def run_checks(report: RobustReport, extra: list[Flag] = ()) -> list[Flag]:
    """Run every check, mark the flagged cells, store and return the flags."""
    flags = [check(report) for check in CHECKS] + list(extra)
    for flag in flags:
        if flag.ok is False:
            for o in report.outcomes:
                if (o.label, o.eps) in flag.cells and flag.name not in o.flags:
                    o.flags.append(flag.name)
    report.checks = flags
    return flags


def gradient_peaks(model: torch.nn.Module, space, x: torch.Tensor, y: torch.Tensor, objective: str = "loss") -> torch.Tensor:
    """Per sample, the largest |entry| of the input gradient of the registered ``objective``
    (untargeted, away from class ``y``), computed in eval mode on the model's device."""
    device = model_device(model)
    with eval_mode(model), torch.enable_grad():
        xg = x.detach().to(device).clone().requires_grad_(True)
        value = OBJECTIVES.get(objective)(space, model(xg), y.to(device), None).sum()
        (grad,) = torch.autograd.grad(value, xg)
    return grad.flatten(1).abs().amax(1).cpu()


def zero_gradient_check(model: torch.nn.Module, space, x: torch.Tensor, y: torch.Tensor, report: RobustReport | None = None) -> Flag:
    """Share of samples whose own-loss input gradient vanishes: exactly zero, or numerically
    (largest entry ≤ ``VANISHING``, as on a saturated loss whose gradient underflows). A flag
    concerns the cells that attack the own loss (from ``report``, when given).

    ``x`` and ``y`` may live anywhere: they are moved to the model's device."""
    peak = gradient_peaks(model, space, x, y)
    exact, vanishing = (peak == 0).float().mean().item(), (peak <= VANISHING).float().mean().item()
    ok = vanishing <= 0.1
    detail = f"{vanishing:.1%} of samples have a vanishing gradient of the label space's own loss (max |∇| ≤ {VANISHING:g}; {exact:.1%} exactly zero)"
    cells = [] if ok or report is None else [(o.label, o.eps) for o in report.outcomes if o.kind == WHITE_BOX and not o.adaptive]
    return Flag("zero-gradients", ok, detail + ("" if ok else ": gradient attacks on that loss cannot move them"), cells)
