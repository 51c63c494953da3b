"""Gaussian-noise retraining: the label space's loss on ``clip(x + σ·N(0, I))``, clipped to the
input domain ([0, 1] for images).

The cheap augmentation baseline that Han et al. combine with binary codes (RBC+GN, methods.md
§2). σ is the parameter ``noise_std`` in input units (pixels: [0, 1]); there is no default.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import ConfigError
from labelrobust.labels import LabelSpace
from labelrobust.training.methods.base import BatchLosses, Method
from labelrobust.training.methods.params import MethodParams, param, real
from labelrobust.training.methods.registry import METHODS


@dataclass(frozen=True, kw_only=True)
class NoiseParams(MethodParams):
    noise_std: float = param(help="σ of the Gaussian noise, in input units (pixels in [0, 1]: e.g. 0.1)")

    def __post_init__(self) -> None:
        self._set("noise_std", real(self.noise_std, "noise_std", low=0, low_open=True))


@METHODS.register("noise", "Gaussian-noise retraining: the loss at x + N(0, σ²), clipped to the input domain (needs noise_std)")
class GaussianNoise(Method):
    """Gaussian-noise retraining (RBC+GN of Han et al.)."""

    name = "noise"
    Params = NoiseParams

    def __init__(self, space: LabelSpace, params: NoiseParams, domain: Box = UNIT_BOX) -> None:
        super().__init__(space, params, domain)
        if params.noise_std > domain.width:
            raise ConfigError(
                f"method 'noise': noise_std {params.noise_std:g} exceeds the width of the input domain {domain} "
                f"({domain.width:g}); σ is in input units (pixels in [0, 1]: e.g. 0.1)"
            )
        self.std = params.noise_std

    def losses(self, model, net, x, targets, labels) -> BatchLosses:
        noisy = self.domain.clip(x + self.std * torch.randn_like(x))
        outputs = model(noisy)
        return BatchLosses(self.space.loss(outputs, targets), attacked_outputs=outputs.detach())
