"""Square attack (Andriushchenko, Croce, Flammarion & Hein 2020, "Square Attack: a
query-efficient black-box adversarial attack via random search", ECCV), through the package.

A random search over square-shaped perturbations that keeps a candidate when it lowers the
margin ``s_y − max_{j≠y} s_j`` of the label space's class scores: it uses only forward
passes, no gradients. That makes it the sanity check of the evaluation (Carlini et al. 2019):
gradient masking can hide a model's weakness from gradient attacks, not from Square, so a
black-box attack that beats the white-box ones says the white-box ones are broken.
"""

from __future__ import annotations

from torch import Tensor

from labelrobust.attacks.base import BLACK_BOX, PublishedAttack, Search
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


@ATTACKS.register("square", "Square attack: black-box random search on the class scores")
class Square(PublishedAttack):
    """Square attack on the class scores (untargeted), for image inputs N×C×H×W.

    Parameters: ``n_queries`` per restart (default 1000), ``p_init`` the initial fraction of
    pixels a square covers (default 0.8, as published for L∞; the package shrinks it on its
    schedule, rescaled to ``n_queries``), ``n_restarts`` (default 1), ``seed`` (default 0; None
    draws one from torch's RNG). Its cost is forward passes only (queries), no gradients.
    """

    name = "square"
    kind = BLACK_BOX
    published_objective = "margin"

    def __init__(self, threat: ThreatModel, n_queries: int = 1000, p_init: float = 0.8, n_restarts: int = 1, seed: int | None = 0) -> None:
        super().__init__(threat)
        published_norm(threat, self.name)
        check_count(n_queries, "n_queries", self.name)
        check_count(n_restarts, "n_restarts", self.name)
        if isinstance(p_init, bool) or not isinstance(p_init, (int, float)) or not 0.0 < p_init <= 1.0:
            raise ConfigError(f"{self.name}: p_init (the fraction of the image the first squares cover) must lie in (0, 1], got {p_init!r}")
        self.n_queries, self.n_restarts, self.p_init = n_queries, n_restarts, float(p_init)
        self.seed = check_seed(seed, self.name)

    def unsupported(self, input_shape: tuple[int, ...], num_classes: int) -> str | None:
        if len(input_shape) != 3:
            return f"{self.name} draws squares on images: inputs must have shape (C, H, W), got {tuple(input_shape)}"
        return None

    def budget(self) -> dict:
        return {"n_queries": self.n_queries, "n_restarts": self.n_restarts, "p_init": self.p_init, "seed": self.seed}

    def run(self, model, space, x: Tensor, y: Tensor, target: Tensor | None, domain: Box) -> Search:
        if target is not None:
            raise ConfigError(f"{self.name} is untargeted here: it stops when the arg-max of the scores leaves the true class; use pgd with a target for targeted attacks")
        if x.ndim != 4:
            raise ConfigError(f"{self.name} draws squares on images: inputs must have shape (N, C, H, W), got {tuple(x.shape)}")
        net, seed = scores_model(model, space, domain), resolve_seed(self.seed)  # drawn outside the RNG fork
        with isolated(model, x.device):
            square = pyautoattack().square.SquareAttack(
                net,
                norm=published_norm(self.threat, self.name),
                n_queries=self.n_queries,
                eps=domain.to_unit_eps(self.threat.eps),
                p_init=self.p_init,
                n_restarts=self.n_restarts,
                seed=seed,
                verbose=False,
                loss="margin",
                device=x.device,
            )
            u_adv = square.perturb(to_unit(x, domain), y)
        return Search(self.from_package(x, u_adv, domain))
