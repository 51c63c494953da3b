"""Running attack specs over a split at several radii: nested eps, an active set across attacks,
per-sample outcomes, resume.

Cells run in order: radii ascending; at each radius the diagnostics, then the ensemble in the
suite's order. Each attack pushes samples away from their clean prediction (see
``outcomes.py``). Which samples a cell attacks:

- all samples with a dominant class (for a targeted evaluation: not already the target),
- minus, with ``nested`` (default), those already broken at a smaller radius — by any cell for
  an ensemble attack, by the same spec for a nested diagnostic (an adversarial point of a
  smaller ball lies in every larger one);
- minus, for an ensemble attack with ``active_set`` (default), those an earlier cell at this
  radius broke (AutoAttack's scheme: attack only what still stands).

Every cell is attacked batch by batch with the model in eval mode (restored afterwards) and
the torch RNG seeded from (seed, label, eps), so a cell's result does not depend on the order
of calls or on resuming. With a ``state_path`` each finished cell is saved atomically and a
later call reuses it (``state.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from labelrobust.data import ImageSet
from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import ConfigError
from labelrobust.evaluation.outcomes import Outcome, RobustReport, broken_by, count_decisions, ordered, run_position
from labelrobust.evaluation.progress import Progress, budget_units
from labelrobust.evaluation.specs import DIAGNOSTIC_ROLE, ENSEMBLE_ROLE, AttackSpec, radius
from labelrobust.evaluation.state import EvaluationState, stale_reason
from labelrobust.labels import ABSTAIN, LabelSpace
from labelrobust.metrics.inference import eval_mode, model_device, model_outputs, sample_identity
from labelrobust.provenance import now
from labelrobust.validation import boolean, positive_int

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cell:
    spec: AttackSpec
    order: int
    eps: float
    text: str


def evaluate_attacks(
    model: torch.nn.Module,
    space: LabelSpace,
    images: ImageSet,
    specs: list[AttackSpec],
    eps_values: list[float | str],
    norm: str = "linf",
    *,
    target: int | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    seed: int = 0,
    state_path: str | Path | None = None,
    model_id: dict | None = None,
    quiet: bool = False,
    domain: Box = UNIT_BOX,
    nested: bool = True,
    active_set: bool = True,
    skip_unsupported: bool = False,
) -> RobustReport:
    """Attack ``images`` with every spec at every eps; see the module docstring.

    ``eps_values``: numbers or texts (``"8/255"``); each must lie inside the input domain.
    ``target``: a class index for targeted attacks; samples of that class are left out.
    ``device``: where batches are attacked (None: the model's device).
    ``model_id``: identifies the model (``{"weights": "latest", "sha256": ...}``); saved results
    of another ``sha256`` are returned as stale instead of reused. The report holds every
    result of ``state_path`` for this norm and target, not only those asked for now.
    ``nested``/``active_set``: skip samples already broken at a smaller eps / by an earlier
    ensemble attack (both on by default; off, every cell attacks every sample). A saved cell is
    reused only when its attack, parameters, role and these two settings match.
    ``skip_unsupported``: leave out (with a warning) attacks that cannot run on these inputs,
    e.g. Square on 2-D points, instead of refusing.
    """
    positive_int(batch_size, "batch_size")
    boolean(nested, "nested")
    boolean(active_set, "active_set")
    _check_specs(specs)
    shape = tuple(images.images.shape[1:])
    specs = _supported(specs, norm, shape, space.num_classes, skip_unsupported)
    cells = _plan(specs, eps_values, norm, shape, domain)
    images = _leave_out_target(images, target, space)
    device = model_device(model) if device is None else device
    model_id, samples = dict(model_id or {}), sample_identity(images)
    if model_id.get("sha256") is None:  # without it, another model's saved cells would be reused
        model_id["sha256"] = weights_digest(model)
    labels = images.labels
    clean_pred = space.decide(model_outputs(model, images, batch_size, device), labels)  # decode; multi-label: the label while in the set
    state = EvaluationState(state_path)
    wanted = {spec.label: _settings(spec, nested, active_set) for spec in specs}
    mine = lambda e: e["norm"] == norm and e.get("target") == target and stale_reason(e, model_id, samples) is None  # noqa: E731
    same = lambda e: e["label"] not in wanted or e.get("settings") == wanted[e["label"]]  # noqa: E731
    done = [_outcome(e, None) for e in state.entries if mine(e) and same(e)]
    keys = {(o.label, o.eps) for o in done}
    todo = [c for c in cells if (c.spec.label, c.eps) not in keys]
    if state_path is not None and len(todo) < len(cells):
        log.info("%d of %d (attack, eps) results already in %s: reused", len(cells) - len(todo), len(cells), state_path)
    progress = Progress([(c.spec.label, c.text, budget_units(c.spec.describe(norm, c.eps)), len(labels)) for c in todo], quiet)
    run = _Runner(model, space, images, clean_pred, norm, target, batch_size, device, domain, progress)
    try:
        for cell in todo:
            skip_nested, skip_active = _skipped(cell, done, clean_pred, target, nested, active_set)
            entry = run.cell(cell, skip_nested, skip_active, _seed_for(seed, cell.spec.label, cell.eps))
            entry.update(model=model_id, samples=samples, computed=now(), settings=wanted[cell.spec.label])
            state.put(entry)
            done.append(_outcome(entry, None))
    finally:
        progress.close()
    report = build_report([e for e in state.entries if same(e) or not mine(e)], labels, clean_pred, norm, target, model_id, samples, shape, domain)
    state.save_metrics({(o.label, o.eps, norm, target, model_id.get("sha256"), samples["sha256"]): o.metrics for o in report.outcomes})
    return report


def _settings(spec: AttackSpec, nested: bool, active_set: bool) -> dict:
    """What a saved cell must match to be reused: the attack, its parameters, its role, and
    which samples it was allowed to skip."""
    return {
        "attack": spec.attack, "params": json.loads(json.dumps(spec.params, sort_keys=True, default=str)), "role": spec.role,
        "nested": bool(nested and spec.nested), "active_set": bool(active_set and spec.role == ENSEMBLE_ROLE),
    }


def weights_digest(model: torch.nn.Module) -> str:
    """A SHA-256 of the model's parameters and buffers, to tell models apart when the caller
    gives no weights file hash."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", copy=True).contiguous().view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return "state-dict:" + digest.hexdigest()


def _supported(specs: list[AttackSpec], norm: str, shape: tuple[int, ...], num_classes: int, skip: bool) -> list[AttackSpec]:
    """The specs whose attacks can run on these inputs; the others are refused in one line
    before any attack runs, or, with ``skip`` (suites), left out with a warning."""
    kept = []
    for spec in specs:
        why = spec.build(norm, 0.0).unsupported(shape, num_classes)
        if why is None:
            kept.append(spec)
        elif skip:
            log.warning("left out %s: %s", spec.label, why)
        else:
            raise ConfigError(f"attack {spec.label!r} cannot run here: {why}")
    return kept


def _check_specs(specs: list[AttackSpec]) -> None:
    labels = [s.label for s in specs]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise ConfigError(f"attack labels must be unique within an evaluation; repeated: {', '.join(twice)}")


def _plan(specs: list[AttackSpec], eps_values: list[float | str], norm: str, shape: tuple[int, ...], domain: Box) -> list[Cell]:
    """Every cell in run order, every radius checked before any attack runs."""
    if not eps_values and any(not spec.fixed_eps for spec in specs):
        raise ConfigError("give at least one eps (e.g. --eps 8/255)")
    listed = list({r[0]: r for r in (radius(e, norm, shape, domain) for e in eps_values)}.values())
    cells = []
    for order, spec in enumerate(specs):
        for eps, text in ([radius(spec.eps, norm, shape, domain)] if spec.fixed_eps else listed):
            cells.append(Cell(spec, order, eps, text))
    return sorted(cells, key=lambda c: run_position(c.eps, c.spec.role, c.order))


def _leave_out_target(images: ImageSet, target: int | None, space: LabelSpace) -> ImageSet:
    if target is None:
        return images
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < space.num_classes:
        raise ConfigError(f"target class must lie in 0..{space.num_classes - 1}, got {target}")
    kept = images.subset((images.labels != target).nonzero().flatten())
    if len(kept) == 0:
        raise ConfigError(f"no sample left after leaving out the samples of the target class {target}; attack a split with other classes")
    return kept


def _skipped(cell: Cell, done: list[Outcome], clean_pred: Tensor, target: int | None, nested: bool, active_set: bool) -> tuple[Tensor, Tensor]:
    """(samples skipped because broken at a smaller eps, samples skipped because an earlier
    ensemble attack broke them at this eps)."""
    smaller = [o for o in done if o.eps < cell.eps]
    here = run_position(cell.eps, cell.spec.role, cell.order)
    same = [o for o in done if o.eps == cell.eps and run_position(o.eps, o.role, o.order) < here]
    if cell.spec.role == DIAGNOSTIC_ROLE:
        own = [o for o in smaller if o.label == cell.spec.label] if nested and cell.spec.nested else []
        return broken_by(own, clean_pred, target), broken_by([], clean_pred, target)
    nested_mask = broken_by(smaller if nested else [], clean_pred, target)
    return nested_mask, broken_by(same if active_set else [], clean_pred, target) & ~nested_mask


def _seed_for(seed: int, label: str, eps: float) -> int:
    return (seed * 1_000_003 + zlib.crc32(f"{label}@{eps!r}".encode())) % (2**31)


class _Runner:
    """Attacks one cell's samples batch by batch and returns its state entry."""

    def __init__(self, model, space, images, clean_pred, norm, target, batch_size, device, domain, progress: Progress) -> None:
        self.model, self.space, self.images, self.clean_pred = model, space, images, clean_pred
        self.norm, self.target, self.batch_size, self.device, self.domain = norm, target, batch_size, device, domain
        self.progress, self.started = progress, time.perf_counter()

    def eligible(self) -> Tensor:
        ok = self.clean_pred != ABSTAIN
        return ok if self.target is None else ok & (self.clean_pred != self.target)

    def cell(self, cell: Cell, skip_nested: Tensor, skip_active: Tensor, seed: int) -> dict:
        attack = cell.spec.build(self.norm, cell.eps)
        description = attack.describe()
        chosen = (self.eligible() & ~skip_nested & ~skip_active).nonzero().flatten()
        decisions: list[int | None] = [None] * len(self.clean_pred)
        cost, started = None, time.perf_counter()
        self.progress.start_cell(cell.spec.label, cell.text)
        torch.manual_seed(seed)
        with eval_mode(self.model):
            for first in range(0, len(chosen), self.batch_size):
                index = chosen[first : first + self.batch_size]
                x = self.images.float_images(index).to(self.device)
                y = self.clean_pred[index].to(self.device)
                t = None if self.target is None else torch.full_like(y, self.target)
                result = attack(self.model, self.space, x, y, t, domain=self.domain)
                for i, d in zip(index.tolist(), result.pred.cpu().tolist()):
                    decisions[i] = d
                cost = result.cost if cost is None else cost + result.cost
                if first == 0:
                    self.progress.first_batch(budget_units(description) * len(index), time.perf_counter() - started)
        self.progress.end_cell(budget_units(description) * len(self.clean_pred), time.perf_counter() - self.started)
        broke = sum(d is not None and d != int(c) for d, c in zip(decisions, self.clean_pred.tolist()))
        log.debug("%s at eps %s: attacked %d, changed %d, %.1f s", cell.spec.label, cell.text, len(chosen), broke, time.perf_counter() - started)
        return {
            "label": cell.spec.label, "role": cell.spec.role, "attack": cell.spec.attack,
            "params": json.loads(json.dumps(cell.spec.params, default=str)), "description": description.as_dict(),
            "norm": self.norm, "eps": cell.eps, "eps_text": cell.text, "target": self.target, "fixed_eps": cell.spec.fixed_eps,
            "order": cell.order, "decisions": decisions, "cost": (cost.as_dict() if cost is not None else {}),
            "seconds": round(time.perf_counter() - started, 3), "skipped_nested": int((skip_nested & self.eligible()).sum()),
            "skipped_active": int((skip_active & self.eligible()).sum()),
        }


def _outcome(entry: dict, stale: str | None) -> Outcome:
    return Outcome(
        label=entry["label"], role=entry.get("role", DIAGNOSTIC_ROLE), description=entry.get("description", {}), norm=entry["norm"],
        eps=float(entry["eps"]), decisions=entry["decisions"], cost=entry.get("cost", {}), seconds=entry.get("seconds", 0.0),
        eps_text=entry.get("eps_text", ""), target=entry.get("target"), fixed_eps=entry.get("fixed_eps", False),
        order=entry.get("order", 0), skipped_nested=entry.get("skipped_nested", 0), skipped_active=entry.get("skipped_active", 0),
        stale=stale, model=entry["model"], samples=entry["samples"], nested=entry.get("settings", {}).get("nested", False),
    )


def build_report(entries: list[dict], labels: Tensor, clean_pred: Tensor, norm: str, target: int | None, model_id: dict, samples: dict,
                 input_shape: tuple[int, ...], domain: Box = UNIT_BOX) -> RobustReport:
    """The report of one norm and target: current cells with their counted decisions and
    metrics, then the stale ones (their saved metrics, if any), each group in run order."""
    current, stale = [], []
    for e in entries:
        if e["norm"] != norm or e.get("target") != target:
            continue
        reason = stale_reason(e, model_id, samples)
        if reason is None:
            current.append(_outcome(e, None))
        else:
            old = _outcome(e, reason)
            old.metrics = e.get("metrics") or {}
            stale.append(old)
    current = ordered(current)
    count_decisions(current, labels, clean_pred, target)
    return RobustReport(labels, clean_pred, current, norm, target, stale=ordered(stale), input_shape=input_shape, model=model_id,
                        samples=samples, domain=domain.as_dict())
