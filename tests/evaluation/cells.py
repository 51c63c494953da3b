"""Hand-built evaluation cells and reports: the checks and the counting of decisions by hand,
without running an attack."""

from __future__ import annotations

import torch

from labelrobust.evaluation import DIAGNOSTIC_ROLE, ENSEMBLE_ROLE, Outcome, RobustReport
from labelrobust.evaluation.outcomes import count_decisions

PGD = {"steps": 20, "restarts": 1, "targets": 0}


def cell(label, eps, decisions, *, role=DIAGNOSTIC_ROLE, attack="pgd", objective="margin", kind="white-box", budget=None, order=0, fixed_eps=False):
    """One cell; ``decisions`` per sample (None: not attacked)."""
    description = {"name": attack, "kind": kind, "objective": objective, "adaptive": objective != "loss", "budget": dict(PGD if budget is None else budget)}
    return Outcome(label=label, role=role, description=description, norm="linf", eps=eps, decisions=list(decisions), order=order, fixed_eps=fixed_eps)


def ensemble(label, eps, decisions, **kw):
    return cell(label, eps, decisions, role=ENSEMBLE_ROLE, **kw)


def breaking(n, broken, clean=0, other=1, attacked=None):
    """Decisions of ``n`` samples whose clean class is ``clean``: ``other`` on the positions in
    ``broken``, ``clean`` elsewhere, None outside ``attacked`` (default: all)."""
    attacked = set(range(n)) if attacked is None else set(attacked)
    return [None if i not in attacked else (other if i in broken else clean) for i in range(n)]


def report(outcomes, n=None, labels=None, clean=None, target=None, input_shape=(1, 8, 8)):
    """A report of ``outcomes`` with counted decisions and metrics (all samples of class 0,
    classified correctly, unless ``labels``/``clean`` say otherwise)."""
    n = n if n is not None else len(outcomes[0].decisions)
    labels = torch.zeros(n, dtype=torch.long) if labels is None else torch.as_tensor(labels)
    clean = labels.clone() if clean is None else torch.as_tensor(clean)
    count_decisions(outcomes, labels, clean, target)
    return RobustReport(labels, clean, outcomes, "linf", target, input_shape=input_shape)


def first(images, n):
    return images.subset(torch.arange(min(n, len(images))))
