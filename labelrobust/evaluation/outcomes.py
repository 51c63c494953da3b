"""Per-sample outcomes of an evaluation and the report built from them.

Every (attack, eps) *cell* stores the decoded class at the attack's point for each sample it
attacked (None for samples it did not attack). Attacks push each sample away from its **clean
prediction** (its dominant class), so one run serves both headline metrics:

- **robust accuracy** (against the true label): clean-correct and still correct at every
  adversarial point found — a sample the model already gets wrong is never robust;
- **survival** (soft-label study): the dominant class did not change; samples with no dominant
  class (clean abstention) are left out.

A cell's *counted decisions* (``adv_pred``): a diagnostic carries, for a sample it did not
attack at this eps, its own decision from the largest smaller eps (nested); an ensemble cell
counts the worst case so far at its eps — every cell at a smaller eps, every diagnostic at its
eps, and the ensemble cells before it. The **worst case** at eps is that over all cells with a
radius ≤ eps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from labelrobust.evaluation.specs import DIAGNOSTIC_ROLE, eps_text
from labelrobust.labels import ABSTAIN
from labelrobust.metrics.robustness import stability_ratio, survival_eligible, survival_rate


@dataclass
class Outcome:
    """One (attack, eps) cell. ``description`` is the attack's own ``describe()``; ``stale`` is
    None for a result of the model and samples being evaluated, else why it no longer matches
    them (kept for reference, never used in the worst case or the checks)."""

    label: str
    role: str
    description: dict
    norm: str
    eps: float
    decisions: list = field(repr=False)
    cost: dict = field(default_factory=dict)
    seconds: float = 0.0
    eps_text: str = ""
    target: int | None = None
    fixed_eps: bool = False
    order: int = 0
    skipped_nested: int = 0
    skipped_active: int = 0
    stale: str | None = None
    nested: bool = False
    """Whether the cell skipped samples broken at a smaller eps (a diagnostic's counted
    decisions are then a union over radii, not one run)."""
    model: dict = field(default_factory=dict, repr=False)
    samples: dict = field(default_factory=dict, repr=False)
    # filled in by the report: the counted decisions and the metrics computed from them
    adv_pred: Tensor | None = field(default=None, repr=False)
    metrics: dict = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.eps_text = self.eps_text or eps_text(self.eps)

    # what the attack is, as it described itself
    @property
    def attack(self) -> str:
        return self.description.get("name", "")

    @property
    def kind(self) -> str:
        return self.description.get("kind", "")

    @property
    def objective(self) -> str:
        return self.description.get("objective", "")

    @property
    def adaptive(self) -> bool:
        return bool(self.description.get("adaptive", False))

    @property
    def budget(self) -> dict:
        return self.description.get("budget", {})

    @property
    def attacked(self) -> int:
        return sum(d is not None for d in self.decisions)

    @property
    def robust_accuracy(self) -> float | None:
        return self.metrics.get("robust_accuracy")

    def decision_tensor(self) -> tuple[Tensor, Tensor]:
        """(mask of attacked samples, their decisions; ABSTAIN elsewhere)."""
        mask = torch.tensor([d is not None for d in self.decisions], dtype=torch.bool)
        values = torch.tensor([ABSTAIN if d is None else int(d) for d in self.decisions], dtype=torch.int64)
        return mask, values

    def row(self) -> dict[str, Any]:
        """One flat table row (CSV/JSON); the per-sample decisions stay in the state file."""
        m = self.metrics
        return {
            "label": self.label, "role": self.role, "attack": self.attack, "kind": self.kind, "objective": self.objective,
            "adaptive": self.adaptive, "norm": self.norm, "eps": self.eps, "eps_text": self.eps_text, "target": self.target,
            "n": len(self.decisions), "attacked": self.attacked, "skipped_nested": self.skipped_nested, "skipped_active": self.skipped_active,
            "robust_accuracy": m.get("robust_accuracy"), "attack_success": m.get("attack_success"), "abstain_rate": m.get("abstain_rate"),
            "survival": m.get("survival"), "target_hit_rate": m.get("target_hit_rate"), "stability_ratio": m.get("stability_ratio"),
            "forwards": self.cost.get("forwards", 0), "gradients": self.cost.get("gradients", 0),
            "source_gradients": self.cost.get("source_gradients", 0), "seconds": self.seconds, "fixed_eps": self.fixed_eps,
            "budget": self.budget, "flags": ";".join(self.flags), "stale": self.stale is not None, "stale_reason": self.stale or "",
            "weights": self.model.get("weights"), "weights_sha256": self.model.get("sha256"), "samples_sha256": self.samples.get("sha256"),
        }


@dataclass
class RobustReport:
    """Clean decisions, one Outcome per (attack, eps) of the evaluated model and samples (with
    counted decisions and metrics), the ``stale`` outcomes kept from other weights or samples,
    and the checks' flags."""

    labels: Tensor
    clean_pred: Tensor
    outcomes: list[Outcome]
    norm: str
    target: int | None = None
    checks: list = field(default_factory=list)
    stale: list[Outcome] = field(default_factory=list)
    input_shape: tuple[int, ...] | None = None
    model: dict = field(default_factory=dict)
    samples: dict = field(default_factory=dict)
    domain: dict = field(default_factory=lambda: {"low": 0.0, "high": 1.0})

    @property
    def clean_accuracy(self) -> float:
        return (self.clean_pred == self.labels).float().mean().item() if len(self.labels) else 0.0

    def radii(self) -> list[float]:
        """The radii of the eps list (sanity runs at a fixed radius are no evaluation)."""
        return sorted({o.eps for o in self.outcomes if not o.fixed_eps})

    def worst_pred(self, eps: float) -> Tensor:
        """Per sample, the counted decision over every cell at a radius ≤ ``eps``."""
        cells = [o for o in ordered(self.outcomes) if o.eps <= eps]
        return merge_worst(self.clean_pred, cells, self.target)

    def worst_case(self) -> dict[float, float]:
        """Robust accuracy per eps of the eps list when a sample counts as robust only if no
        attack at that eps or below changed its decision."""
        return {eps: metrics_of(self.worst_pred(eps), self.labels, self.clean_pred, self.target)["robust_accuracy"] for eps in self.radii()}

    def worst_case_metrics(self) -> dict[float, dict]:
        return {eps: metrics_of(self.worst_pred(eps), self.labels, self.clean_pred, self.target) for eps in self.radii()}

    def eps_texts(self) -> dict[float, str]:
        """Each radius of the outcomes as the user wrote it."""
        return {o.eps: o.eps_text for o in self.outcomes}

    def rows(self) -> list[dict[str, Any]]:
        """Table rows: the current outcomes, then the stale ones (marked ``stale``)."""
        return [o.row() for o in [*self.outcomes, *self.stale]]


def run_position(eps: float, role: str, order: int) -> tuple[float, int, int]:
    """Where a cell stands in the run: by eps, diagnostics before the ensemble, then suite order."""
    return (eps, 0 if role == DIAGNOSTIC_ROLE else 1, order)


def ordered(outcomes: list[Outcome]) -> list[Outcome]:
    """The cells in the order they are run (``run_position``)."""
    return sorted(outcomes, key=lambda o: run_position(o.eps, o.role, o.order))


def is_broken(decisions: Tensor, clean_pred: Tensor, target: int | None) -> Tensor:
    """Untargeted: the decision left the clean prediction. Targeted: it reached the target."""
    return decisions != clean_pred if target is None else decisions == target


def merge_worst(clean_pred: Tensor, cells: list[Outcome], target: int | None) -> Tensor:
    """The first breaking decision of each sample over ``cells`` (in order); for a targeted
    evaluation a decision that reaches the target wins over one that merely changed."""
    worst = clean_pred.clone()
    for cell in cells:
        mask, values = cell.decision_tensor()
        changed = mask & (values != clean_pred) & (worst == clean_pred)
        worst[changed] = values[changed]
        if target is not None:
            hit = mask & (values == target)
            worst[hit] = target
    return worst


def broken_by(cells: list[Outcome], clean_pred: Tensor, target: int | None) -> Tensor:
    """The samples any of ``cells`` broke (in any order; none for no cells)."""
    return is_broken(merge_worst(clean_pred, cells, target), clean_pred, target)


def metrics_of(adv_pred: Tensor, labels: Tensor, clean_pred: Tensor, target: int | None) -> dict[str, float | None]:
    """The headline metrics of counted decisions ``adv_pred`` (see the module docstring)."""
    correct = clean_pred == labels
    eligible = survival_eligible(clean_pred, labels, target)
    out: dict[str, float | None] = {
        "robust_accuracy": (correct & (adv_pred == labels)).float().mean().item() if len(labels) else None,
        "attack_success": (adv_pred[correct] != labels[correct]).float().mean().item() if correct.any() else None,
        "abstain_rate": (adv_pred == ABSTAIN).float().mean().item() if len(labels) else None,
        "survival": survival_rate(clean_pred, adv_pred, labels, target) if eligible.any() else None,
        "target_hit_rate": None if target is None or not eligible.any() else (adv_pred[eligible] == target).float().mean().item(),
        "clean_accuracy": correct.float().mean().item() if len(labels) else None,
    }
    clean = out["clean_accuracy"]
    out["stability_ratio"] = stability_ratio(out["robust_accuracy"], clean) if clean else None
    return out


def count_decisions(outcomes: list[Outcome], labels: Tensor, clean_pred: Tensor, target: int | None) -> None:
    """Fill every cell's counted decisions and metrics (see the module docstring)."""
    carried: dict[str, Tensor] = {}
    done: list[Outcome] = []
    for cell in ordered(outcomes):
        mask, values = cell.decision_tensor()
        if cell.role == DIAGNOSTIC_ROLE:
            own = carried.get(cell.label, clean_pred).clone()
            own[mask] = values[mask]
            carried[cell.label] = own
            cell.adv_pred = own
        else:
            cell.adv_pred = merge_worst(clean_pred, [*done, cell], target)
        cell.metrics = metrics_of(cell.adv_pred, labels, clean_pred, target)
        done.append(cell)
