"""AutoAttack and APGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with
an ensemble of diverse parameter-free attacks", ICML), run through the published package.

We do not re-implement them: the value of AutoAttack as a reference is that it is the published
code. What we add is the label space: the package attacks ``scores_model(model, space)``, whose
output is ``space.scores(model(x))``, so its arg-max, CE and DLR losses apply to every label
space — for distribution spaces the scores are the logits (the result equals calling the
package on the model itself), for code-based spaces they are the negative distances to each
class region, which removes the gradient masking of the spaces' own saturating losses.

These are ``PublishedAttack``s: the package uses its own losses (CE and DLR for APGD, targeted
DLR for APGD-T, the linearised boundary for FAB, the margin for Square), all on the class
scores, so they take no ``objective`` parameter. Inputs from another domain than [0, 1] are
handed to the package in unit coordinates (``scores_model``). Success is judged afterwards by the base class through ``space.decode``,
so an abstention counts as success; the package itself counts a point as broken only when the
arg-max of its scores leaves the true class, so on spaces that can abstain a point it pushed
into abstention while the arg-max stayed put is returned unperturbed (conservative).
"""

from __future__ import annotations

import logging
from typing import ClassVar

import torch
from torch import Tensor

from labelrobust.attacks.base import BLACK_BOX, ENSEMBLE, WHITE_BOX, PublishedAttack, Search
from labelrobust.attacks.registry import ATTACKS
from labelrobust.attacks.scores_model import (
    check_count,
    check_seed,
    isolated,
    published_norm,
    pyautoattack,
    resolve_seed,
    scores_model,
    to_unit,
)
from labelrobust.attacks.threat import ThreatModel
from labelrobust.domain import Box
from labelrobust.errors import ConfigError
from labelrobust.validation import number

log = logging.getLogger(__name__)

VERSIONS = ("standard", "plus", "rand", "custom")
"""The package's versions: ``standard`` = APGD-CE, APGD-T, FAB-T, Square as published;
``plus`` adds APGD-DLR and untargeted FAB with 5 restarts; ``rand`` = APGD-CE and APGD-DLR with
20-fold expectation over transformation, for randomised defences; ``custom`` runs ``attacks``."""

SUB_ATTACKS = ("apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t", "square")

VERSION_ATTACKS = {
    "standard": ["apgd-ce", "apgd-t", "fab-t", "square"],
    "plus": ["apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"],
    "rand": ["apgd-ce", "apgd-dlr"],
}
"""The sub-attacks each version runs, in the package's order (pyautoattack 0.2.0)."""

SUB_ATTACK_LOSSES = {"apgd-ce": "ce", "apgd-dlr": "dlr", "apgd-t": "dlr-targeted", "fab": "fab", "fab-t": "fab-targeted", "square": "margin"}
"""What each sub-attack maximises on the class scores."""

MIN_CLASSES = {"apgd-dlr": 3, "apgd-t": 4}
"""The DLR loss normalises by s_π1 − s_π3 (targeted: s_π1 − (s_π3 + s_π4)/2)."""


def _check_classes(names: list[str], num_classes: int, who: str) -> None:
    for name in names:
        need = MIN_CLASSES.get(name, 2)
        if num_classes < need:
            raise ConfigError(f"{who}: {name} needs at least {need} classes (its DLR loss reads the third{' and fourth' if need == 4 else ''} largest score), got {num_classes}")


def _refuse_targets(target: Tensor | None, who: str) -> None:
    if target is not None:
        raise ConfigError(
            f"{who} is untargeted: the published package picks its own target classes (APGD-T, FAB-T) "
            "and counts success as leaving the true class; use pgd with a target for targeted attacks"
        )


def _apgd_with_iterations(old, n_iter: int):
    """A copy of the package's APGD object ``old`` with ``n_iter`` iterations.

    APGD derives its step-size checkpoints (0.22, 0.06, 0.03 × n_iter) in its constructor, so
    setting ``n_iter`` afterwards would keep the checkpoints of 100 iterations; we construct a
    new one, carrying over what the version set on the old one.
    """
    base = pyautoattack().autopgd_base
    common = dict(
        n_iter=n_iter, norm=old.norm, n_restarts=old.n_restarts, eps=old.eps, seed=old.seed, eot_iter=old.eot_iter,
        rho=old.thr_decr, verbose=False, device=old.device, use_largereps=old.use_largereps, logger=old.logger,
    )
    if isinstance(old, base.APGDAttack_targeted):
        return base.APGDAttack_targeted(old.model, n_target_classes=old.n_target_classes, **common)
    return base.APGDAttack(old.model, loss=old.loss, **common)


@ATTACKS.register("autoattack", "the published AutoAttack ensemble on the class scores")
class AutoAttack(PublishedAttack):
    """The published AutoAttack ensemble on the label space's class scores (untargeted only).

    Parameters: ``version`` (``standard`` by default; see ``VERSIONS``), ``attacks`` (the
    sub-attacks for ``version="custom"``, a subset of ``SUB_ATTACKS``), ``seed`` (default 0;
    None draws one from torch's RNG), and overrides of the published budgets, None keeping the
    version's own: ``n_iter`` (APGD, APGD-T and FAB, published 100), ``n_restarts`` (APGD, APGD-T
    and untargeted FAB; the package always runs FAB-T with one), ``n_queries`` (Square,
    published 5000), ``n_target_classes`` (APGD-T and FAB-T, published 9; at most K − 1), and
    ``batch_size`` (the package's, default 250; its RNG is re-seeded per batch, so results
    depend on it).

    Its kind is ``ensemble`` (``black-box`` for a custom run of Square alone); its cost counts
    every pass through the model: every gradient step of every sub-attack, Square's queries,
    and the package's own checks.
    """

    name = "autoattack"

    def __init__(
        self,
        threat: ThreatModel,
        version: str = "standard",
        attacks: list[str] | None = None,
        seed: int | None = 0,
        n_iter: int | None = None,
        n_restarts: int | None = None,
        n_queries: int | None = None,
        n_target_classes: int | None = None,
        batch_size: int = 250,
    ) -> None:
        super().__init__(threat)
        published_norm(threat, self.name)
        if version not in VERSIONS:
            raise ConfigError(f"{self.name}: unknown version {version!r}; known: {', '.join(VERSIONS)}")
        if version == "custom":
            if not attacks or isinstance(attacks, str):
                raise ConfigError(f"{self.name}: version='custom' needs attacks, a list of sub-attacks from {', '.join(SUB_ATTACKS)}")
            unknown = [a for a in attacks if a not in SUB_ATTACKS]
            if unknown:
                raise ConfigError(f"{self.name}: unknown sub-attack {', '.join(map(repr, unknown))}; known: {', '.join(SUB_ATTACKS)}")
            if len(set(attacks)) != len(attacks):
                raise ConfigError(f"{self.name}: attacks lists a sub-attack twice: {list(attacks)}")
        elif attacks is not None:
            raise ConfigError(f"{self.name}: attacks is only used with version='custom'; version {version!r} runs its own set")
        for name, value in (("n_iter", n_iter), ("n_restarts", n_restarts), ("n_queries", n_queries), ("n_target_classes", n_target_classes)):
            check_count(value, name, self.name, allow_none=True)
        check_count(batch_size, "batch_size", self.name)
        self.version = version
        self.attacks = list(attacks) if attacks is not None else None
        self.seed = check_seed(seed, self.name)
        self.n_iter, self.n_restarts, self.n_queries, self.batch_size = n_iter, n_restarts, n_queries, batch_size
        self.n_target_classes = n_target_classes

    @property
    def sub_attacks(self) -> list[str]:
        return list(self.attacks) if self.version == "custom" else VERSION_ATTACKS[self.version]

    @property
    def kind(self) -> str:  # type: ignore[override]
        subs = self.sub_attacks
        return BLACK_BOX if subs == ["square"] else ENSEMBLE if len(subs) > 1 else WHITE_BOX

    @property
    def published_objective(self) -> str:  # type: ignore[override]
        return "+".join(SUB_ATTACK_LOSSES[a] for a in self.sub_attacks)

    def unsupported(self, input_shape: tuple[int, ...], num_classes: int) -> str | None:
        if "square" in self.sub_attacks and len(input_shape) != 3:
            return f"{self.name}: its Square sub-attack needs images (C, H, W), got inputs of shape {tuple(input_shape)}"
        need = max(MIN_CLASSES.get(a, 2) for a in self.sub_attacks)
        if num_classes < need:
            return f"{self.name}: {', '.join(a for a in self.sub_attacks if MIN_CLASSES.get(a, 2) > num_classes)} need at least {need} classes, got {num_classes}"
        return None

    def budget(self) -> dict:
        """The version's budget with every package default resolved (pyautoattack 0.2.0)."""
        restarts = self.n_restarts if self.n_restarts is not None else (5 if self.version == "plus" else 1)
        return {
            "version": self.version, "attacks": self.sub_attacks, "n_iter": self.n_iter or 100, "n_restarts": restarts,
            "n_queries": self.n_queries or 5000, "n_target_classes": self.n_target_classes or 9, "seed": self.seed,
        }

    def build(self, net: torch.nn.Module, num_classes: int, device: torch.device, seed: int, eps: float):
        """The package's AutoAttack object on ``net`` with this attack's settings; ``eps`` in the
        package's unit coordinates."""
        aa = pyautoattack().AutoAttack(
            net,
            norm=published_norm(self.threat, self.name),
            eps=eps,
            seed=seed,
            version=self.version,
            attacks=None if self.attacks is None else list(self.attacks),
            device=device,
        )
        _check_classes(aa.attacks_to_run, num_classes, self.name)
        # the package only warns, then fails with an index error, when 9 targets exceed K − 1
        targets = self.n_target_classes or aa.apgd_targeted.n_target_classes
        aa.apgd_targeted.n_target_classes = aa.fab.n_target_classes = min(targets, num_classes - 1)
        if self.n_restarts is not None:
            aa.apgd.n_restarts = aa.apgd_targeted.n_restarts = aa.fab.n_restarts = self.n_restarts
        if self.n_iter is not None:
            aa.apgd = _apgd_with_iterations(aa.apgd, self.n_iter)
            aa.apgd_targeted = _apgd_with_iterations(aa.apgd_targeted, self.n_iter)
            aa.fab.n_iter = self.n_iter
        if self.n_queries is not None:
            aa.square.n_queries = self.n_queries
        return aa

    def run(self, model, space, x: Tensor, y: Tensor, target: Tensor | None, domain: Box) -> Search:
        _refuse_targets(target, self.name)
        net, seed = scores_model(model, space, domain), resolve_seed(self.seed)  # drawn outside the RNG fork
        with isolated(model, x.device):
            aa = self.build(net, space.num_classes, x.device, seed, domain.to_unit_eps(self.threat.eps))
            log.debug("autoattack %s (%s) at %s eps %g on %d samples", self.version, ", ".join(aa.attacks_to_run), self.threat.norm, self.threat.eps, len(x))
            u_adv, _ = aa.run_standard_evaluation(to_unit(x, domain), y, batch_size=self.batch_size)
        return Search(self.from_package(x, u_adv, domain))


class _APGD(PublishedAttack):
    """APGD (Croce & Hein 2020) alone, through the package, on the class scores.

    Parameters: ``n_iter`` (default 100, as published), ``n_restarts`` (default 1), ``rho``
    (the step-size halving threshold, default 0.75 as published), ``seed`` (default 0; None
    draws one from torch's RNG). The package drops samples already broken before each restart,
    which the cost shows.
    """

    loss: ClassVar[str]

    def __init__(self, threat: ThreatModel, n_iter: int = 100, n_restarts: int = 1, rho: float = 0.75, seed: int | None = 0) -> None:
        super().__init__(threat)
        published_norm(threat, self.name)
        check_count(n_iter, "n_iter", self.name)
        check_count(n_restarts, "n_restarts", self.name)
        rho = number(rho, f"{self.name}: rho", low=0.0, high=1.0, low_open=True, high_open=True)
        self.n_iter, self.n_restarts, self.rho = n_iter, n_restarts, float(rho)
        self.seed = check_seed(seed, self.name)

    @property
    def published_objective(self) -> str:  # type: ignore[override]
        return self.loss

    def unsupported(self, input_shape: tuple[int, ...], num_classes: int) -> str | None:
        need = MIN_CLASSES.get(self.name, 2)
        return None if num_classes >= need else f"{self.name} needs at least {need} classes, got {num_classes}"

    def budget(self) -> dict:
        return {"n_iter": self.n_iter, "n_restarts": self.n_restarts, "rho": self.rho, "seed": self.seed}

    def run(self, model, space, x: Tensor, y: Tensor, target: Tensor | None, domain: Box) -> Search:
        _refuse_targets(target, self.name)
        _check_classes([self.name], space.num_classes, self.name)
        net, seed = scores_model(model, space, domain), resolve_seed(self.seed)  # drawn outside the RNG fork
        with isolated(model, x.device):
            apgd = pyautoattack().autopgd_base.APGDAttack(
                net,
                n_iter=self.n_iter,
                norm=published_norm(self.threat, self.name),
                n_restarts=self.n_restarts,
                eps=domain.to_unit_eps(self.threat.eps),
                seed=seed,
                loss=self.loss,
                rho=self.rho,
                verbose=False,
                device=x.device,
                logger=log,  # its zero-gradient check then logs instead of warning
            )
            u_adv = apgd.perturb(to_unit(x, domain), y)
        return Search(self.from_package(x, u_adv, domain))


@ATTACKS.register("apgd-ce", "APGD on cross-entropy of the scores (published package)")
class APGDCE(_APGD):
    __doc__ = _APGD.__doc__ + "\n    Loss: cross-entropy of softmax(scores)."
    name = "apgd-ce"
    loss = "ce"


@ATTACKS.register("apgd-dlr", "APGD on the DLR loss of the scores (published package)")
class APGDDLR(_APGD):
    __doc__ = _APGD.__doc__ + "\n    Loss: the scale-invariant DLR of the scores (needs K ≥ 3)."
    name = "apgd-dlr"
    loss = "dlr"
