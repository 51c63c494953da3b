"""A training method: the inner point, the outer per-sample loss, and per-sample weights.

A method turns a mini-batch into per-sample losses, split as ``ω_i·weighted_i + rest_i`` so that
instance reweighting (``labelrobust.training.reweight``) multiplies the term its paper weights:
the adversarial loss of AT, the KL term of TRADES, the BCE term of MART (Wang et al.'s MAIL
code weights these). Methods reach the label space only through its interface: the training
loss ``space.loss``, and class probabilities ``softmax(space.scores)`` — for code-based spaces
(binary, interval) that is the softmax of the negative distances to each class's code or
interval, which is what TRADES, MART and the margins use there.

Methods are side-effect free (style.md §7): the inner maximisation runs the model in eval mode
and restores its mode, gradients are taken with respect to inputs only, and optimisers and
devices are left to the training loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from labelrobust.attacks import OBJECTIVES, make_attack
from labelrobust.attacks.objectives import Objective
from labelrobust.attacks.threat import parse_eps
from labelrobust.config import MethodConfig
from labelrobust.errors import ConfigError
from labelrobust.labels import LabelSpace
from labelrobust.metrics.inference import eval_mode


@dataclass
class BatchLosses:
    """Per-sample loss parts of one mini-batch: ``loss_i = ω_i·weighted_i + rest_i``.

    ``clean_outputs`` / ``attacked_outputs``: model outputs on the clean inputs and on the
    inputs the method trained on (adversarial or noisy), detached, for diagnostics and weights;
    None where the method did not compute them.
    """

    weighted: Tensor
    rest: Tensor | None = None
    clean_outputs: Tensor | None = None
    attacked_outputs: Tensor | None = None

    def total(self, weights: Tensor | None = None) -> Tensor:
        loss = self.weighted if weights is None else weights * self.weighted
        return loss if self.rest is None else loss + self.rest


def log_probabilities(space: LabelSpace, outputs: Tensor) -> Tensor:
    """``log softmax(scores)``, the log of ``space.probabilities`` computed stably."""
    return F.log_softmax(space.scores(outputs), dim=1)


def kl_per_sample(log_p: Tensor, log_q: Tensor) -> Tensor:
    """``KL(p ‖ q) = Σ_k p_k (log p_k − log q_k)`` per sample, from log-probabilities."""
    return (log_p.exp() * (log_p - log_q)).sum(dim=1)


class Method(ABC):
    """Base class. ``adversarial`` methods build an inner PGD from the config's threat model."""

    name: ClassVar[str]
    adversarial: ClassVar[bool] = True
    inner_objective_doc: ClassVar[str] = "the label space's training loss"

    def __init__(self, cfg: MethodConfig, space: LabelSpace) -> None:
        self.cfg, self.space = cfg, space
        self.pgd = None
        self._fraction = 1.0
        self.objective: Objective | None = None
        if self.adversarial:
            if cfg.eps is None:
                raise ConfigError(
                    f"method {cfg.name!r} trains on adversarial examples and needs method.eps, the radius of the "
                    f"inner attack (e.g. 0.3 on MNIST, 8/255 on CIFAR); there is no default"
                )
            self.eps = parse_eps(cfg.eps)
            self.step_size = None if cfg.step_size is None else parse_eps(cfg.step_size)
            self.pgd = self._inner_attack(1.0)
            if cfg.objective is not None:
                self.objective = OBJECTIVES.get(cfg.objective)
        elif cfg.objective is not None or cfg.eps_warmup:
            raise ConfigError(f"method {cfg.name!r} has no inner attack; method.objective and method.eps_warmup apply to adversarial methods only")

    def _inner_attack(self, fraction: float):
        # The inner PGD as the attack registry builds it; its objective is replaced per batch
        # by the method's own unless method.objective names a registered one.
        step_size = None if self.step_size is None else self.step_size * fraction
        return make_attack(
            "pgd", norm=self.cfg.norm, eps=self.eps * fraction, steps=self.cfg.steps, step_size=step_size, random_start=self.cfg.random_start
        )

    def start_batch(self, epochs_done: float) -> None:
        """Called before each batch with the training progress in epochs (e.g. 1.5). During the
        first ``eps_warmup`` epochs the inner radius (and step size) ramps linearly from 0 to
        eps, which small models need to leave chance level under a large eps (MNIST at 0.3)."""
        if self.pgd is None or not self.cfg.eps_warmup:
            return
        fraction = min(1.0, epochs_done / self.cfg.eps_warmup)
        if fraction != self._fraction:
            self.pgd, self._fraction = self._inner_attack(fraction), fraction

    def inner_point(self, net: torch.nn.Module, x: Tensor, labels: Tensor, own_objective: Objective) -> Tensor:
        """The inner maximisation: the last PGD iterate, found with ``net`` in eval mode."""
        with eval_mode(net):
            return self.pgd.trajectory_end(net, self.space, x, labels, self.objective or own_objective)

    def training_loss_objective(self, targets: Tensor) -> Objective:
        """The label space's training loss on this batch's targets, as an attack objective
        (so soft-label spaces are attacked on their soft targets, as they train)."""
        return lambda space, outputs, y, target: space.loss(outputs, targets)

    @abstractmethod
    def losses(self, model: torch.nn.Module, net: torch.nn.Module, x: Tensor, targets: Tensor, labels: Tensor) -> BatchLosses:
        """Per-sample loss parts of a batch. ``model`` is what the loss is computed through (the
        DistributedDataParallel wrapper when distributed), ``net`` the bare network the inner
        attack queries; ``targets`` are the label space's encoded targets, ``labels`` the hard
        labels."""

    def describe(self) -> dict:
        """The settings this method runs with, every default resolved (for run summaries)."""
        out = {"name": self.name}
        if self.pgd is not None:
            out.update(
                norm=self.pgd.threat.norm, eps=self.pgd.threat.eps, steps=self.pgd.steps, step_size=self.pgd.step_size,
                random_start=self.pgd.random_start, objective=self.cfg.objective or self.inner_objective_doc, eps_warmup=self.cfg.eps_warmup,
            )
        return out
