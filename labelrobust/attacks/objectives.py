"""What an attack maximises, per sample, computed only through the LabelSpace.

- ``loss``: the label space's own training loss (what the original studies attacked; it
  reproduces their numbers). Targeted (soft-label study): ``ℓ(f(x+δ), y) − ℓ(f(x+δ), t)``.
- ``margin`` (CW, Carlini & Wagner 2017): ``max_{j≠y} s_j − s_y``; targeted ``s_t − max_{j≠t} s_j``.
- ``dlr`` (Croce & Hein 2020): ``−(s_y − max_{j≠y} s_j) / (s_π1 − s_π3)``, scale-invariant;
  targeted ``−(s_y − s_t) / (s_π1 − (s_π3 + s_π4)/2)``. Needs K ≥ 3 (targeted: K ≥ 4).
- ``ce``: cross-entropy of ``softmax(scores)``; targeted ``−CE(scores, t)``.
- ``top2-margin`` (multi-label study, methods.md §5): ``s^(2)_{j≠y} − s_y``, the 2nd-highest
  score among the classes other than y minus y's score; positive ⇔ y left the top-2 set.
  Targeted ``s_t − s^(2)_{j≠t}``: positive ⇔ t entered the top-2 set. Needs K ≥ 3.

``s`` are the label space's class scores, so the adaptive objectives (margin, dlr, ce) apply
to every label space, code-based ones included.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

from labelrobust.errors import ConfigError
from labelrobust.labels import LabelSpace
from labelrobust.registry import Registry

Objective = Callable[[LabelSpace, Tensor, Tensor, "Tensor | None"], Tensor]
OBJECTIVES: Registry[Objective] = Registry("attack objective")


def _other_max(scores: Tensor, cls: Tensor) -> Tensor:
    """``max_{j≠cls} s_j`` per sample."""
    masked = scores.masked_fill(F.one_hot(cls, scores.shape[1]).bool(), float("-inf"))
    return masked.amax(dim=1)


def _pick(scores: Tensor, cls: Tensor) -> Tensor:
    return scores.gather(1, cls[:, None]).squeeze(1)


@OBJECTIVES.register("loss", "the label space's own training loss (what the original studies attacked)")
def own_loss(space: LabelSpace, outputs: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    value = space.loss(outputs, space.encode(y))
    if target is not None:
        value = value - space.loss(outputs, space.encode(target))
    return value


@OBJECTIVES.register("margin", "CW margin max_{j≠y} s_j − s_y on the class scores")
def margin(space: LabelSpace, outputs: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    s = space.scores(outputs)
    if target is None:
        return _other_max(s, y) - _pick(s, y)
    return _pick(s, target) - _other_max(s, target)


@OBJECTIVES.register("dlr", "difference-of-logits ratio on the class scores (Croce & Hein 2020)")
def dlr(space: LabelSpace, outputs: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    s = space.scores(outputs)
    need = 3 if target is None else 4
    if s.shape[1] < need:
        raise ConfigError(f"the dlr objective needs at least {need} classes, got {s.shape[1]}; use margin")
    top = s.sort(dim=1, descending=True).values
    if target is None:
        return -(_pick(s, y) - _other_max(s, y)) / (top[:, 0] - top[:, 2] + 1e-12)
    return -(_pick(s, y) - _pick(s, target)) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


@OBJECTIVES.register("ce", "cross-entropy of the class scores")
def scores_cross_entropy(space: LabelSpace, outputs: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    s = space.scores(outputs)
    if target is None:
        return F.cross_entropy(s, y, reduction="none")
    return -F.cross_entropy(s, target, reduction="none")


def _other_second(scores: Tensor, cls: Tensor) -> Tensor:
    """The 2nd-highest ``s_j`` over ``j ≠ cls``, per sample."""
    masked = scores.masked_fill(F.one_hot(cls, scores.shape[1]).bool(), float("-inf"))
    return masked.topk(2, dim=1).values[:, 1]


@OBJECTIVES.register("top2-margin", "2nd-highest score among classes ≠ y minus s_y: positive once y left the top-2 set (multi-label study)")
def top2_margin(space: LabelSpace, outputs: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    s = space.scores(outputs)
    if s.shape[1] < 3:
        raise ConfigError(f"the top2-margin objective needs at least 3 classes (a top-2 set of 2 classes holds both), got {s.shape[1]}")
    if target is None:
        return _other_second(s, y) - _pick(s, y)
    return _pick(s, target) - _other_second(s, target)
