"""Penultimate features: the input of the last ``nn.Linear`` a model calls in its forward pass.

The label metrics (``centroid``) and the representation plot read the same features, so both
take them from here.
"""

from __future__ import annotations

import torch
from torch import nn

from labelrobust.attacks.base import model_device
from labelrobust.data import ImageSet
from labelrobust.errors import ConfigError
from labelrobust.metrics.inference import eval_mode, positive_int


class _LastLinear:
    """Forward hooks on every ``nn.Linear`` of a model that keep the input of the last call."""

    def __init__(self, model: nn.Module) -> None:
        linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ConfigError(
                f"the model ({type(model).__name__}) has no nn.Linear layer, so it has no penultimate features (the input of its last linear layer)"
            )
        self.last: tuple[str, torch.Tensor] | None = None
        self.handles = [m.register_forward_hook(self._hook(name)) for name, m in linears]

    def _hook(self, name: str):
        def keep(module, args, output):
            self.last = (name or type(module).__name__, args[0].detach())

        return keep

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


@torch.no_grad()
def penultimate_features(model: nn.Module, images: ImageSet, batch_size: int = 256) -> tuple[torch.Tensor, str]:
    """The input of the last ``nn.Linear`` the forward pass calls, per sample (N×D, CPU float),
    and that layer's name; refuses a model without one."""
    positive_int(batch_size, "batch_size")
    hooks = _LastLinear(model)
    device = model_device(model)
    features, layer = [], None
    try:
        with eval_mode(model):
            for start in range(0, len(images), batch_size):
                hooks.last = None
                model(images.float_images(slice(start, start + batch_size)).to(device))
                if hooks.last is None:
                    raise ConfigError(f"the model ({type(model).__name__}) never calls its nn.Linear layers in forward; there are no penultimate features to read")
                layer = hooks.last[0]
                features.append(hooks.last[1].flatten(1).float().cpu())
    finally:
        hooks.close()
    return torch.cat(features), layer
