"""Transfer attack: adversarial examples crafted on a source model, evaluated on the victim.

The black-box setting of Papernot et al. 2016 ("Transferability in machine learning: from
phenomena to black-box attacks using adversarial samples"): the attacker has gradients of a
surrogate, not of the victim. In an evaluation it is a sanity check (Carlini et al. 2019, "On
Evaluating Adversarial Robustness"): a transfer attack that beats the white-box attacks on the
victim says those are not finding what exists — typically gradient masking.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from labelrobust.attacks.base import TRANSFER, Attack, Cost, Search, model_device
from labelrobust.attacks.registry import ATTACKS
from labelrobust.attacks.threat import ThreatModel
from labelrobust.domain import Box
from labelrobust.errors import ConfigError
from labelrobust.labels import LabelSpace


@ATTACKS.register("transfer", "adversarial examples crafted on a source model, judged on the victim")
class Transfer(Attack):
    """Run the registered attack ``attack`` (default ``pgd``) on ``source_model`` read through
    ``source_space`` and hand its adversarial inputs to the victim; the base class then judges
    them on the victim model through the victim's label space.

    Parameters: ``source_model``, ``source_space`` (both required; the source space must have
    the victim's number of classes, it may be a different space), ``attack``, the source
    attack's parameters as ``attack_params`` (a dict, what configs pass through
    ``make_attack``) or as further keywords in Python, and ``objective`` (forwarded to the source
    attack; None keeps that attack's default). The threat model is shared: the source attack
    searches the same ball. Its objective and budget are the source attack's; its cost counts
    the source passes as ``source_forwards``/``source_gradients`` and the victim's passes (only
    the final evaluation) as ``forwards``.
    """

    name = "transfer"
    kind = TRANSFER

    def __init__(
        self,
        threat: ThreatModel,
        source_model: torch.nn.Module | None = None,
        source_space: LabelSpace | None = None,
        attack: str = "pgd",
        attack_params: dict[str, Any] | None = None,
        objective: str | None = None,
        **kwargs: Any,
    ) -> None:
        from labelrobust.attacks import make_attack  # the package imports this module to register it

        super().__init__(threat)
        if source_model is None:
            raise ConfigError(f"{self.name} needs source_model, the model the adversarial examples are crafted on")
        if not isinstance(source_model, torch.nn.Module):
            raise ConfigError(f"{self.name}: source_model must be a torch.nn.Module, got {type(source_model).__name__}")
        if source_space is None:
            raise ConfigError(f"{self.name} needs source_space, the label space source_model was trained with")
        if not isinstance(source_space, LabelSpace):
            raise ConfigError(f"{self.name}: source_space must be a LabelSpace, got {type(source_space).__name__}")
        if attack == self.name:
            raise ConfigError(f"{self.name}: the source attack cannot itself be a transfer attack")
        if attack_params is not None and not isinstance(attack_params, dict):
            raise ConfigError(f"{self.name}: attack_params must be a dict of the source attack's parameters, got {type(attack_params).__name__}")
        params = dict(attack_params or {})
        both = sorted(set(params) & set(kwargs))
        if both:
            raise ConfigError(f"{self.name}: {', '.join(map(repr, both))} given both in attack_params and as a keyword")
        params.update(kwargs)
        if "norm" in params or "eps" in params:
            raise ConfigError(f"{self.name}: the source attack shares this attack's threat model; do not pass norm or eps in its parameters")
        if objective is not None:
            params["objective"] = objective
        self.source = make_attack(attack, norm=threat.norm, eps=threat.eps, **params)
        self.source_model, self.source_space = source_model, source_space

    @property
    def objective_name(self) -> str:
        return self.source.objective_name

    @property
    def adaptive(self) -> bool:
        return self.source.adaptive

    def budget(self) -> dict:
        return {"source_attack": self.source.name, **self.source.budget()}

    def run(self, model, space, x: Tensor, y: Tensor, target: Tensor | None, domain: Box) -> Search:
        if self.source_space.num_classes != space.num_classes:
            raise ConfigError(
                f"{self.name}: the source space has {self.source_space.num_classes} classes but the victim's has "
                f"{space.num_classes}; both models must predict the same classes"
            )
        # The source model may live on another device than the victim (a CPU surrogate for a
        # GPU victim, say): craft where the source is, hand the points back where x is.
        device = model_device(self.source_model, x.device)
        moved = None if target is None else target.to(device)
        crafted = self.source(self.source_model, self.source_space, x.to(device), y.to(device), moved, domain=domain)
        spent = Cost(source_forwards=crafted.cost.forwards, source_gradients=crafted.cost.gradients)
        return Search(crafted.x_adv.to(x.device), extra_cost=spent)
