"""Gaussian-noise retraining: the label space's loss on ``clip(x + σ·N(0, I), 0, 1)``.

The cheap augmentation baseline that Han et al. combine with binary codes (RBC+GN, methods.md
§2). σ is ``method.noise_std`` in [0, 1] pixel units; there is no default.
"""

from __future__ import annotations

import math

import torch

from labelrobust.errors import ConfigError
from labelrobust.training.methods.base import BatchLosses, Method
from labelrobust.training.methods.registry import METHODS


@METHODS.register("noise", "Gaussian-noise retraining: the loss at x + N(0, σ²) (needs method.noise_std)")
class GaussianNoise(Method):
    adversarial = False
    name = "noise"

    def __init__(self, cfg, space) -> None:
        super().__init__(cfg, space)
        std = cfg.noise_std
        if std is None or isinstance(std, bool) or not math.isfinite(std) or not 0 < std <= 1:
            raise ConfigError(f"method 'noise' needs method.noise_std, the noise σ in (0, 1] pixel units (e.g. 0.1), got {std!r}")
        self.std = float(std)

    def losses(self, model, net, x, targets, labels) -> BatchLosses:
        noisy = (x + self.std * torch.randn_like(x)).clamp_(0.0, 1.0)
        outputs = model(noisy)
        return BatchLosses(self.space.loss(outputs, targets), attacked_outputs=outputs.detach())

    def describe(self) -> dict:
        return {"name": self.name, "noise_std": self.std}
